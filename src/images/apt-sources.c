/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apt-sources.h"
#include "util.h"

#define WORD_MAX 1024

/* Copies the next whitespace-separated word of [*p, end) into word; false at the end. */
static bool next_word(const char **p, const char *end, char word[WORD_MAX]) {
        size_t n = 0;

        while (*p < end && (**p == ' ' || **p == '\t'))
                (*p)++;
        if (*p >= end)
                return false;
        while (*p < end && **p != ' ' && **p != '\t') {
                if (n < WORD_MAX - 1)
                        word[n++] = **p;
                (*p)++;
        }
        word[n] = 0;
        return true;
}

static bool is_security(const char *uri, const char *suite) {
        return strstr(uri, "security") || strstr(suite, "-security") || strstr(suite, "/updates");
}

static bool uri_usable(const char *uri) {
        return startswith(uri, "http://") || startswith(uri, "https://") || startswith(uri, "file:/") ||
               startswith(uri, "ftp://");
}

static int one_line_mirror(const char *line, const char *end, char **ret) {
        char word[WORD_MAX], uri[WORD_MAX];
        const char *p = line;

        if (!next_word(&p, end, word) || !streq(word, "deb"))
                return -ENOENT;
        if (!next_word(&p, end, uri))
                return -ENOENT;
        if (uri[0] == '[') {
                /* Options: "[arch=amd64 signed-by=…]" up to the word that closes them. */
                while (!strchr(uri, ']'))
                        if (!next_word(&p, end, uri))
                                return -ENOENT;
                if (!next_word(&p, end, uri))
                        return -ENOENT;
        }
        if (!next_word(&p, end, word) || !uri_usable(uri) || is_security(uri, word))
                return -ENOENT;
        *ret = strdup(uri);
        return *ret ? 0 : -ENOMEM;
}

typedef struct Stanza {
        bool deb, disabled;
        char uri[WORD_MAX], suite[WORD_MAX];
} Stanza;

static int stanza_done(Stanza *s, char **ret) {
        int r = -ENOENT;

        if (s->deb && !s->disabled && s->uri[0] && s->suite[0] && uri_usable(s->uri) && !is_security(s->uri, s->suite)) {
                *ret = strdup(s->uri);
                r = *ret ? 0 : -ENOMEM;
        }
        *s = (Stanza) {};
        return r;
}

static void stanza_field(Stanza *s, const char *line, const char *end) {
        const char *colon = memchr(line, ':', (size_t) (end - line));
        const char *p;
        char word[WORD_MAX];
        size_t klen;

        if (!colon)
                return;
        klen = (size_t) (colon - line);
        p = colon + 1;
        if (klen == 5 && strncasecmp(line, "Types", 5) == 0) {
                while (next_word(&p, end, word))
                        if (streq(word, "deb"))
                                s->deb = true;
        } else if (klen == 4 && strncasecmp(line, "URIs", 4) == 0)
                (void) next_word(&p, end, s->uri);
        else if (klen == 6 && strncasecmp(line, "Suites", 6) == 0)
                (void) next_word(&p, end, s->suite);
        else if (klen == 7 && strncasecmp(line, "Enabled", 7) == 0 && next_word(&p, end, word))
                s->disabled = strcasecmp(word, "no") == 0;
}

int apt_sources_find_mirror(const char *text, size_t size, bool deb822, char **ret) {
        const char *p = text, *end = text + size;
        Stanza s = {};
        int r;

        if (size > APT_SOURCES_SIZE_MAX)
                return -EFBIG;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *le = nl ?: end, *line = p;
                bool blank = true;

                p = nl ? nl + 1 : end;
                for (const char *q = line; q < le; q++)
                        if (*q != ' ' && *q != '\t' && *q != '\r') {
                                blank = false;
                                break;
                        }
                if (le > line && le[-1] == '\r')
                        le--;

                if (!deb822) {
                        if (!blank && line[0] != '#' && one_line_mirror(line, le, ret) == 0)
                                return 0;
                        continue;
                }
                if (blank) {
                        r = stanza_done(&s, ret);
                        if (r != -ENOENT)
                                return r;
                } else if (line[0] != '#' && line[0] != ' ' && line[0] != '\t')
                        stanza_field(&s, line, le);
        }
        return deb822 ? stanza_done(&s, ret) : -ENOENT;
}

static int mirror_in_file(const char *path, bool deb822, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, APT_SOURCES_SIZE_MAX, &text, &size);
        if (r < 0)
                return r == -ENOENT ? -ENOENT : r;
        return apt_sources_find_mirror(text, size, deb822, ret);
}

static int compare_names(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

int apt_host_mirror(const char *root, char **ret) {
        _cleanup_free_ char *list = path_join(root, "etc/apt/sources.list"), *dir = path_join(root, "etc/apt/sources.list.d");
        struct dirent **names = NULL;
        int n, r;

        if (!list || !dir)
                return -ENOMEM;
        r = mirror_in_file(list, false, ret);
        if (r != -ENOENT)
                return r;

        n = scandir(dir, &names, NULL, compare_names);
        if (n < 0)
                return -ENOENT;
        r = -ENOENT;
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                size_t l = strlen(name);
                bool deb822 = l > 8 && streq(name + l - 8, ".sources");
                _cleanup_free_ char *path = NULL;

                if (r == -ENOENT && (deb822 || (l > 5 && streq(name + l - 5, ".list")))) {
                        path = path_join(dir, name);
                        r = path ? mirror_in_file(path, deb822, ret) : -ENOMEM;
                }
                free(names[i]);
        }
        free(names);
        return r;
}
