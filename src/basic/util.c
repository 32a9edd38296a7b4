/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int strcmp_ptr(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

int safe_atou64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (isempty(s))
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        *ret = v;
        return 0;
}

int safe_atoi(const char *s, int *ret) {
        bool neg = s && *s == '-';
        uint64_t v;
        int r;

        r = safe_atou64(neg ? s + 1 : s, &v);
        if (r < 0)
                return r;
        if (v > (uint64_t) INT_MAX)
                return -ERANGE;
        *ret = neg ? -(int) v : (int) v;
        return 0;
}

int free_and_strdup(char **field, const char *s) {
        char *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

char *strprintf(const char *format, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

char *path_join(const char *a, const char *b) {
        size_t la = strlen(a);
        return strprintf("%s%s%s", a, la > 0 && a[la - 1] == '/' ? "" : "/", b[0] == '/' ? b + 1 : b);
}

int read_full_fd(int fd, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, allocated = 0;

        for (;;) {
                ssize_t n;

                if (allocated - size < 4096) {
                        size_t want = allocated ? allocated * 2 : 4096;
                        char *p;

                        if (want > max_size + 2)
                                want = max_size + 2;
                        if (want <= size + 1)
                                return -EFBIG;
                        p = realloc(buf, want);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated = want;
                }

                n = read(fd, buf + size, allocated - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
                if (size > max_size)
                        return -EFBIG;
        }

        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max_size, ret, ret_size);
}

int read_one_line_file(const char *path, char **ret) {
        char *s;
        int r;

        r = read_full_file(path, 4096, &s, NULL);
        if (r < 0)
                return r;
        s[strcspn(s, "\n")] = 0;
        *ret = s;
        return 0;
}

int loop_write(int fd, const void *buf, size_t n) {
        const char *p = buf;

        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int find_in_path(const char *name, char **ret) {
        const char *path = getenv("PATH") ?: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

        while (*path) {
                size_t l = strcspn(path, ":");
                _cleanup_free_ char *dir = strndup(path, l), *full = NULL;

                if (!dir)
                        return -ENOMEM;
                if (dir[0] == '/' && (full = path_join(dir, name)) && access(full, X_OK) >= 0) {
                        *ret = TAKE_PTR(full);
                        return 0;
                }
                path += l + (path[l] == ':');
        }
        return -ENOENT;
}

FILE *memstream_open(MemStream *m) {
        *m = (MemStream) {};
        m->f = open_memstream(&m->buf, &m->size);
        return m->f;
}

char *memstream_finish(MemStream *m) {
        char *buf;

        if (!m->f)
                return NULL;
        if (fclose(m->f) != 0) {
                free(m->buf);
                m->buf = NULL;
        }
        buf = m->buf;
        *m = (MemStream) {};
        return buf;
}

char *lines_join(char *const *lines, size_t n) {
        size_t size = 1, at = 0;
        char *text;

        for (size_t i = 0; i < n; i++)
                size += strlen(lines[i]) + 1;
        text = malloc(size);
        if (!text)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(lines[i]);
                memcpy(text + at, lines[i], l);
                text[at + l] = '\n';
                at += l + 1;
        }
        text[at] = 0;
        return text;
}

int write_file_atomic(const char *path, const char *contents, mode_t mode) {
        _cleanup_free_ char *tmp = strprintf("%s.tmp.%d", path, (int) getpid());
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!tmp)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, contents, strlen(contents));
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int flock_still_linked(int fd, const char *path, int op) {
        struct stat st, now;

        while (flock(fd, op) < 0)
                if (errno != EINTR)
                        return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_nlink == 0 || stat(path, &now) < 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev)
                return -ENOENT;
        return 0;
}

int sibling_binary_path(const char *name, char **ret) {
        char buf[PATH_MAX];
        ssize_t n;
        char *slash;

        assert(name && *name);
        n = readlink("/proc/self/exe", buf, sizeof(buf));
        if (n < 0)
                return -errno;
        if ((size_t) n >= sizeof(buf))
                return -ENAMETOOLONG;
        buf[n] = 0;
        slash = strrchr(buf, '/');
        if (buf[0] != '/' || !slash)
                return -ENOENT; /* not a path: the kernel always gives an absolute one */
        *slash = 0;
        *ret = strprintf("%s/%s", buf, name);
        return *ret ? 0 : -ENOMEM;
}

int open_parent_dir(const char *path, const char **ret_name, int *ret_fd) {
        _cleanup_free_ char *parent = strdup(path);
        char *slash;
        int fd;

        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        if (!slash || !slash[1])
                return -EINVAL;
        *slash = 0;
        fd = open(slash == parent ? "/" : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_name = path + (slash - parent) + 1;
        *ret_fd = fd;
        return 0;
}

int rmdir_parent(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
                return -EINVAL;
        *slash = 0;
        return RET_NERRNO(rmdir(dir));
}

int read_full_file_logged(const char *path, size_t max_size, bool missing_ok, char **ret, size_t *ret_size) {
        int r = read_full_file(path, max_size, ret, ret_size);

        if (r == -ENOENT && missing_ok)
                return r;
        if (r == -EFBIG)
                return log_error_errno(r, "%s: larger than %zu KiB.", path, max_size / 1024);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", path);
        return 0;
}

int socket_peer(int fd, struct ucred *ret) {
        socklen_t l = sizeof(*ret);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret, &l) < 0)
                return -errno;
        return l == sizeof(*ret) ? 0 : -EIO;
}

int seqpacket_connect(const char *path, uid_t *ret_peer_uid, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        struct ucred cred;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        r = socket_peer(fd, &cred);
        if (r < 0)
                return r;
        *ret_peer_uid = cred.uid;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int seqpacket_connect_root(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        uid_t uid;
        int r;

        r = seqpacket_connect(path, &uid, &fd);
        if (r < 0)
                return r;
        if (uid != 0)
                return -EPERM;
        *ret_fd = TAKE_FD(fd);
        return 0;
}
