/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "config.h"
#include "log.h"
#include "playbook.h"
#include "util.h"

#define VAR_PREFIX "nspawn_runner_"
#define VALUE_MAX 4096

void playbook_done(Playbook *p) {
        free(p->suite);
        free(p->mirror);
        free(p->arch);
        free(p->include);
        *p = (Playbook) PLAYBOOK_INIT;
}

static unsigned line_of(const yaml_node_t *n) {
        return (unsigned) n->start_mark.line + 1;
}

static const char *scalar(const yaml_node_t *n) {
        return n && n->type == YAML_SCALAR_NODE ? (const char *) n->data.scalar.value : NULL;
}

/* Values are taken literally: a Jinja template would be Ansible's to expand, not ours. */
static int literal_string(const char *file, const char *key, const yaml_node_t *v, char **field) {
        const char *s = scalar(v);

        if (!s || v->data.scalar.length == 0 || memchr(s, 0, v->data.scalar.length))
                return log_error_errno(EINVAL, "%s:%u: %s must be a non-empty string.", file, line_of(v), key);
        if (v->data.scalar.length > VALUE_MAX)
                return log_error_errno(EINVAL, "%s:%u: %s is longer than %d characters.", file, line_of(v), key, VALUE_MAX);
        if (strstr(s, "{{") || strstr(s, "{%"))
                return log_error_errno(EINVAL, "%s:%u: %s must be a literal value, not a template.", file, line_of(v), key);
        return free_and_strdup(field, s);
}

static int word(const char *file, const char *key, const yaml_node_t *v, char **field) {
        int r = literal_string(file, key, v, field);
        if (r < 0)
                return r;
        for (const char *p = *field; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr(".+-_", *p)))
                        return log_error_errno(EINVAL, "%s:%u: %s '%.40s' may only have letters, digits and '.+-_'.", file,
                                               line_of(v), key, *field);
        return 0;
}

/* An nspawn_runner_job_* limit, with the syntax of the configuration key of the same name. */
static int job_limit(const char *file, const char *key, const yaml_node_t *v, Playbook *p) {
        JobLimit l = job_limit_from_string(key + strlen(VAR_PREFIX));
        _cleanup_free_ char *value = NULL;
        int r;

        r = literal_string(file, key, v, &value);
        if (r < 0)
                return r;
        if (job_limit_parse(l, value, &p->limits.value[l]) < 0)
                return log_error_errno(EINVAL, "%s:%u: %s '%.40s' is not a valid limit (see %s in nspawn-runner.conf(5)).",
                                       file, line_of(v), key, value, key + strlen(VAR_PREFIX));
        p->limits_set |= 1U << l;
        return 0;
}

static int boolean(const char *file, const char *key, const yaml_node_t *v, int *field) {
        static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
        static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF" };
        const char *s = scalar(v);

        if (s && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                        if (streq(s, yes[i])) {
                                *field = 1;
                                return 0;
                        }
                        if (streq(s, no[i])) {
                                *field = 0;
                                return 0;
                        }
                }
        return log_error_errno(EINVAL, "%s:%u: %s must be true or false.", file, line_of(v), key);
}

static int network_mode(const char *file, const char *key, const yaml_node_t *v, NetworkMode *field) {
        const char *s = scalar(v);
        NetworkMode m = s ? network_mode_from_string(s) : _NETWORK_MODE_INVALID;

        if (m < 0)
                return log_error_errno(EINVAL, "%s:%u: %s must be isolated, host or none.", file, line_of(v), key);
        *field = m;
        return 0;
}

/* A list of packages, or one string of them separated by commas or blanks. */
static int package_list(const char *file, const char *key, yaml_document_t *doc, const yaml_node_t *v, char **field) {
        _cleanup_free_ char *joined = NULL;
        size_t len = 0;

        if (v->type == YAML_SCALAR_NODE) {
                int r = literal_string(file, key, v, field);
                if (r < 0)
                        return r;
                for (char *p = *field; *p; p++)
                        if (*p == ' ' || *p == '\t')
                                *p = ',';
                return 0;
        }
        if (v->type != YAML_SEQUENCE_NODE)
                return log_error_errno(EINVAL, "%s:%u: %s must be a list of package names.", file, line_of(v), key);

        for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
                const yaml_node_t *item = yaml_document_get_node(doc, *i);
                _cleanup_free_ char *pkg = NULL;
                char *n;
                int r;

                r = word(file, key, item, &pkg);
                if (r < 0)
                        return r;
                if (len + strlen(pkg) + 2 > VALUE_MAX)
                        return log_error_errno(EINVAL, "%s:%u: %s is too long.", file, line_of(v), key);
                n = realloc(joined, len + strlen(pkg) + 2);
                if (!n)
                        return -ENOMEM;
                joined = n;
                len += (size_t) sprintf(joined + len, "%s%s", len ? "," : "", pkg);
        }
        free(*field);
        *field = TAKE_PTR(joined);
        return 0;
}

static int parse_var(const char *file, yaml_document_t *doc, const char *key, const yaml_node_t *v, Playbook *p) {
        if (streq(key, VAR_PREFIX "chroot_suite"))
                return word(file, key, v, &p->suite);
        if (streq(key, VAR_PREFIX "chroot_mirror"))
                return literal_string(file, key, v, &p->mirror);
        if (streq(key, VAR_PREFIX "chroot_arch"))
                return word(file, key, v, &p->arch);
        if (streq(key, VAR_PREFIX "chroot_include"))
                return package_list(file, key, doc, v, &p->include);
        if (streq(key, VAR_PREFIX "maint_recreate"))
                return boolean(file, key, v, &p->maint_recreate);
        if (streq(key, VAR_PREFIX "network"))
                return network_mode(file, key, v, &p->network);
        if (job_limit_from_string(key + strlen(VAR_PREFIX)) >= 0)
                return job_limit(file, key, v, p);
        if (streq(key, VAR_PREFIX "job_suppress_sync"))
                return boolean(file, key, v, &p->job_suppress_sync);
        /* Ours, but unknown: a typo here would silently do the wrong thing. */
        return log_error_errno(EINVAL, "%s:%u: unknown variable %s.", file, line_of(v), key);
}

static int parse_vars(const char *file, yaml_document_t *doc, const yaml_node_t *vars, Playbook *p) {
        if (vars->type != YAML_MAPPING_NODE)
                return log_error_errno(EINVAL, "%s:%u: vars of the first play must be a mapping.", file, line_of(vars));

        for (yaml_node_pair_t *pair = vars->data.mapping.pairs.start; pair < vars->data.mapping.pairs.top; pair++) {
                const yaml_node_t *k = yaml_document_get_node(doc, pair->key);
                const yaml_node_t *v = yaml_document_get_node(doc, pair->value);
                const char *key = scalar(k);
                int r;

                if (!key || !startswith(key, VAR_PREFIX))
                        continue;
                r = parse_var(file, doc, key, v, p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_document(const char *file, yaml_document_t *doc, Playbook *p) {
        const yaml_node_t *root = yaml_document_get_root_node(doc);
        const yaml_node_t *first;

        if (!root)
                return log_error_errno(EINVAL, "%s:1: the playbook is empty: expected a list of plays.", file);
        if (root->type != YAML_SEQUENCE_NODE || root->data.sequence.items.start == root->data.sequence.items.top)
                return log_error_errno(EINVAL, "%s:%u: a playbook must be a non-empty list of plays.", file, line_of(root));

        for (yaml_node_item_t *i = root->data.sequence.items.start; i < root->data.sequence.items.top; i++) {
                const yaml_node_t *play = yaml_document_get_node(doc, *i);
                if (!play || play->type != YAML_MAPPING_NODE)
                        return log_error_errno(EINVAL, "%s:%u: play %u must be a mapping.", file, play ? line_of(play) : 0,
                                               p->n_plays + 1);
                p->n_plays++;
        }

        first = yaml_document_get_node(doc, root->data.sequence.items.start[0]);
        for (yaml_node_pair_t *pair = first->data.mapping.pairs.start; pair < first->data.mapping.pairs.top; pair++) {
                const char *key = scalar(yaml_document_get_node(doc, pair->key));
                if (key && streq(key, "vars"))
                        return parse_vars(file, doc, yaml_document_get_node(doc, pair->value), p);
        }
        return 0;
}

int playbook_parse(const char *file, const char *text, size_t size, Playbook *ret) {
        Playbook p = PLAYBOOK_INIT;
        yaml_parser_t parser;
        yaml_document_t doc;
        yaml_node_t *extra;
        int r;

        if (size > PLAYBOOK_SIZE_MAX)
                return log_error_errno(EFBIG, "%s: larger than %u KiB.", file, PLAYBOOK_SIZE_MAX / 1024);
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *) text, size);

        if (!yaml_parser_load(&parser, &doc)) {
                r = log_error_errno(EINVAL, "%s:%zu: invalid YAML: %s%s%s.", file, parser.problem_mark.line + 1,
                                    parser.problem ?: "error", parser.context ? " " : "", parser.context ?: "");
                yaml_parser_delete(&parser);
                return r;
        }
        r = parse_document(file, &doc, &p);
        yaml_document_delete(&doc);

        /* A second document would be ignored by Ansible too, but never silently by us. */
        if (r >= 0) {
                if (!yaml_parser_load(&parser, &doc))
                        r = log_error_errno(EINVAL, "%s:%zu: invalid YAML: %s.", file, parser.problem_mark.line + 1,
                                            parser.problem ?: "error");
                else {
                        extra = yaml_document_get_root_node(&doc);
                        if (extra)
                                r = log_error_errno(EINVAL, "%s:%u: a playbook must be a single YAML document.", file,
                                                    line_of(extra));
                        yaml_document_delete(&doc);
                }
        }
        yaml_parser_delete(&parser);

        if (r < 0) {
                playbook_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

int playbook_load(const char *path, Playbook *ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file_logged(path, PLAYBOOK_SIZE_MAX, false, &text, &size);
        if (r < 0)
                return r;
        return playbook_parse(path, text, size, ret);
}

int playbook_find(const Context *c, const char *name, char **ret_path) {
        const char *dirs[] = { c->config_dir, c->state_dir };
        const char *exts[] = { "yaml", "yml" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                for (size_t k = 0; k < ELEMENTSOF(exts); k++) {
                        _cleanup_free_ char *p = strprintf("%s/%s.%s", dirs[i], name, exts[k]);
                        if (!p)
                                return -ENOMEM;
                        if (access(p, F_OK) >= 0) {
                                *ret_path = TAKE_PTR(p);
                                return 1;
                        }
                }
        *ret_path = NULL;
        return 0;
}

int playbook_job_settings(const Context *c, const char *image, JobSettings *ret) {
        _cleanup_(playbook_done) Playbook pb = PLAYBOOK_INIT;
        _cleanup_free_ char *playbook = NULL;
        JobSettings js;
        int r;

        r = playbook_find(c, image, &playbook);
        if (r < 0)
                return log_oom();
        if (r > 0)
                (void) playbook_load(playbook, &pb); /* a broken one it said: the image runs as configured */
        config_load_dir(c->config_dir, &js.config);
        js.limits = js.config.job_limits;
        for (JobLimit l = 0; l < _JOB_LIMIT_MAX; l++)
                if (pb.limits_set & (1U << l))
                        js.limits.value[l] = pb.limits.value[l];
        js.suppress_sync = pb.job_suppress_sync >= 0 ? pb.job_suppress_sync : js.config.job_suppress_sync;
        js.network = pb.network >= 0 ? pb.network : js.config.network;
        *ret = js;
        return 0;
}

void playbook_job_settings_done(JobSettings *s) {
        config_done(&s->config);
}

int playbook_job_limits(const Context *c, const char *image, JobLimits *ret) {
        _cleanup_(playbook_job_settings_done) JobSettings js = {};
        int r;

        r = playbook_job_settings(c, image, &js);
        if (r < 0)
                return r;
        *ret = js.limits;
        return 0;
}
