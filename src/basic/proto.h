/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The control protocol between the nspawn-runner CLI on the host and nspawn-runner-init, PID 1 of
 * every job machine. One SOCK_SEQPACKET connection per request; every message has a fixed size per
 * type and is validated for exact size, type, version and file descriptor count before use. */

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAGIC UINT32_C(0x4e52504b) /* "NRPK" */
#define PROTO_VERSION 1
#define PROTO_STAGE_MAX 64
#define PROTO_MESSAGE_MAX 200
/* A job's script: gitlab-runner puts every variable into it, so allow generous sizes, but bound them. */
#define PROTO_SCRIPT_SIZE_MAX (64U * 1024U * 1024U)
/* Directory inside the machine where the host's control directory is bound. */
#define PROTO_CONTROL_DIR_INNER "/run/nspawn-runner-control"
#define PROTO_SOCKET_NAME "control.sock"

typedef enum MsgType {
        MSG_HELLO = 1,    /* host → init: are you there? */
        MSG_HELLO_REPLY,  /* init → host */
        MSG_RUN,          /* host → init: run a stage; carries stdin, stdout, stderr, script */
        MSG_CANCEL,       /* host → init: stop the running stage */
        MSG_EXIT,         /* init → host: the stage ended */
        MSG_ERROR,        /* init → host: the stage could not be started */
        /* The same framing serves the appliance daemon's control socket (nspawn-runnerd). */
        MSG_DAEMON_STATUS,         /* CLI → daemon: what are you doing? */
        MSG_DAEMON_STATUS_REPLY,   /* daemon → CLI */
        MSG_DAEMON_REFRESH,        /* CLI → daemon: refresh the images now */
        MSG_DAEMON_REFRESH_REPLY,  /* daemon → CLI */
        MSG_DAEMON_POWEROFF,       /* CLI → daemon: drain, then power off */
        MSG_DAEMON_POWEROFF_REPLY, /* daemon → CLI: a status reply, draining */
        _MSG_TYPE_MAX,
        _MSG_TYPE_INVALID = -1,
} MsgType;

typedef enum RunFd {
        RUN_FD_STDIN,
        RUN_FD_STDOUT,
        RUN_FD_STDERR,
        RUN_FD_SCRIPT,
        _RUN_FD_MAX,
} RunFd;

struct msg_header {
        uint32_t magic;
        uint16_t version;
        uint16_t type;
        uint32_t size; /* of the whole message, header included */
};

struct msg_hello_reply {
        struct msg_header header;
        uint32_t protocol;
        uint32_t reserved;
};

struct msg_run {
        struct msg_header header;
        char stage[PROTO_STAGE_MAX + 1]; /* NUL-terminated */
        char reserved[7];
};

struct msg_exit {
        struct msg_header header;
        int32_t status;  /* exit status when signal == 0 */
        int32_t signal;  /* the signal that killed the stage's shell, or 0 */
};

struct msg_error {
        struct msg_header header;
        int32_t error; /* positive errno */
        char message[PROTO_MESSAGE_MAX]; /* NUL-terminated */
};

#define PROTO_STATUS_MAX 200

struct msg_daemon_status_reply {
        struct msg_header header;
        uint32_t jobs_running;
        uint32_t images;
        int32_t last_refresh;       /* 1 succeeded, 0 failed, -1 none since the daemon started */
        uint32_t refreshing;        /* 1 while a refresh runs */
        int64_t last_refresh_time;  /* seconds since the epoch, 0 for none */
        char status[PROTO_STATUS_MAX]; /* the STATUS= text, NUL-terminated */
};

typedef enum RefreshResult {
        REFRESH_STARTED,
        REFRESH_ALREADY_RUNNING,
        REFRESH_REFUSED, /* draining for power-off */
        REFRESH_FAILED,  /* could not be started: the daemon's log says why */
        _REFRESH_RESULT_MAX,
} RefreshResult;

struct msg_daemon_refresh_reply {
        struct msg_header header;
        uint32_t result; /* RefreshResult */
        uint32_t reserved;
};

typedef union Msg {
        struct msg_header header;
        struct msg_hello_reply hello_reply;
        struct msg_run run;
        struct msg_exit exit;
        struct msg_error error;
        struct msg_daemon_status_reply status_reply;
        struct msg_daemon_refresh_reply refresh_reply;
} Msg;

/* Fills in a header for a message of the given type. */
void msg_init(Msg *m, MsgType type);
/* Checks a received message: exact size for its type, magic, version, terminated strings, and the
 * number of file descriptors that came with it. Returns the type, or -EBADMSG. */
int msg_validate(const void *buf, size_t size, size_t n_fds);

int msg_send(int sock, const Msg *m, const int *fds, size_t n_fds);
/* Receives one message. fds must have room for _RUN_FD_MAX; *ret_n_fds says how many came; on error
 * none are left open. Returns the type, -ECONNRESET on EOF, -EBADMSG on a malformed message. */
int msg_recv(int sock, Msg *ret, int *fds, size_t *ret_n_fds);
