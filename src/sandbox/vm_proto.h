/* vm_proto.h — what kenneld and the guest init of a `vm` sandbox say to each other.
 *
 * Contract. One TCP connection per exec: the host side (kn_vm_exec's relay, in the
 * sandbox's network namespace) connects to 127.0.0.1:KN_VM_EXEC_PORT, which QEMU's
 * user network forwards to the guest's KN_VM_GUEST_ADDR:KN_VM_EXEC_PORT, where the
 * guest init accepts. Both directions carry frames: a type byte, the payload length
 * as 4 bytes big endian, the payload (at most KN_VM_FRAME_MAX bytes).
 *
 *  guest -> host, at once on accepting: KN_VM_HELLO (empty). Until it comes, the
 *    host has sent nothing and may give up and retry: while the guest boots,
 *    QEMU accepts the host's connection but holds it in its own TCP retries
 *    toward a guest not yet listening (seconds), so a host that wrote its
 *    request first would wait them out, and one that gave up after writing
 *    could not know whether the command started.
 *  host -> guest: KN_VM_REQ first and once (kn_vm_req_encode); then any number of
 *    KN_VM_STDIN (bytes), KN_VM_STDIN_EOF (empty), KN_VM_RESIZE (rows, cols: 2 + 2
 *    bytes big endian), KN_VM_SIGNAL (1 byte: a signal number, delivered to the
 *    command's process group).
 *  guest -> host: KN_VM_STARTED (4 bytes: the command's pid in the guest) or
 *    KN_VM_ERROR (text: why it could not start) and then the exit; KN_VM_STDOUT,
 *    KN_VM_STDERR (bytes; with a tty everything is KN_VM_STDOUT); KN_VM_EXIT last
 *    (4 bytes: the exit status, 128+signal when killed, 126/127 as a shell says),
 *    after all of the command's output. Then the guest closes.
 *
 * The request's first field is the VM's exec token (KN_VM_TOKEN_LEN hex digits),
 * which the guest got at boot in its initramfs config and nothing in the guest but
 * its init can read: anything else that reaches the port (an agent in the guest
 * binding a free address) is refused and disconnected without an answer.
 *
 * The guest init reads its boot configuration from KN_VM_CONFIG_PATH in the
 * initramfs: lines "key=value" (token, hostname), parsed by kn_vm_config_parse.
 *
 * Everything here is pure (no I/O): the guest init links it statically and the
 * host parses what a hostile guest sends with it; tests/fuzz/fuzz_vm_proto.c. */
#ifndef KENNEL_VM_PROTO_H
#define KENNEL_VM_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* QEMU's user network: the guest's own address, the address whose port
 * KN_VM_PROXY_PORT leads to kennel-proxy, the exec port on both sides. */
#define KN_VM_GUEST_ADDR "10.0.2.15"
#define KN_VM_NET "10.0.2.0/24"
#define KN_VM_PROXY_ADDR "10.0.2.100"
#define KN_VM_PROXY_PORT 3128
#define KN_VM_EXEC_PORT 7022
/* The 9p tag under which QEMU shares the guest's root, and the one under
 * which it shares the root's /usr on its own (host base only: vm.h). */
#define KN_VM_ROOT_TAG "kennelroot"
#define KN_VM_USR_TAG "kennelusr"
#define KN_VM_CONFIG_PATH "/kennel.conf"

/* 128 bits of getrandom, as hex. */
#define KN_VM_TOKEN_LEN 32
/* A frame's payload: output is sent in pieces of at most this, and a request
 * (argv + env, bounded by the API at 1 MiB) must fit. */
#define KN_VM_FRAME_MAX (1u << 20)
#define KN_VM_FRAME_HEAD 5
/* argv and env entries one request may carry (the API's own bounds are lower). */
#define KN_VM_REQ_MAX_ARGS 4096
#define KN_VM_REQ_MAX_ENV 4096
/* Clock difference a guest lets pass: a request's own trip takes a few ms;
 * file times and make's comparisons care about more than this. */
#define KN_VM_CLOCK_SLACK_MS 20
/* A hostname, as the API bounds sandbox names. */
#define KN_VM_HOSTNAME_MAX 63

enum kn_vm_frame_type {
	KN_VM_HELLO = 'H',
	KN_VM_REQ = 'R',
	KN_VM_STDIN = 'I',
	KN_VM_STDIN_EOF = 'C',
	KN_VM_RESIZE = 'W',
	KN_VM_SIGNAL = 'K',
	KN_VM_STARTED = 'S',
	KN_VM_STDOUT = 'O',
	KN_VM_STDERR = 'E',
	KN_VM_EXIT = 'X',
	KN_VM_ERROR = 'F',
};

/* The payload of KN_VM_STARTED and KN_VM_EXIT, and a head's length: 4 bytes,
 * big endian. */
static inline void kn_vm_put_u32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static inline uint32_t kn_vm_get_u32(const uint8_t b[4])
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Writes the 5-byte head of a frame. */
void kn_vm_frame_head(uint8_t head[KN_VM_FRAME_HEAD], char type, uint32_t len);
/* Reads a head: 0 with *type and *len set, -1 when the type is unknown or the
 * length over KN_VM_FRAME_MAX. */
int kn_vm_frame_parse_head(const uint8_t head[KN_VM_FRAME_HEAD], char *type, uint32_t *len);

struct kn_vm_req {
	char token[KN_VM_TOKEN_LEN + 1];
	uint32_t uid, gid;
	const char *workdir;  /* absolute */
	int tty;              /* 1: a pty is the command's terminal */
	int stdin_open;       /* without tty: 1 stdin is a pipe fed by KN_VM_STDIN, 0 /dev/null */
	uint16_t rows, cols;  /* with tty */
	char **argv;          /* NULL-terminated, at least one entry */
	char **env;           /* NULL-terminated: the command's whole environment */
	uint64_t time_ms;     /* the host's CLOCK_REALTIME when sent, in ms (see below) */
};

/* Encodes `req` as a payload: NUL-terminated fields in this order: token, uid,
 * gid, workdir, tty, stdin_open, rows, cols (decimal), argc, argv..., envc, env...,
 * time_ms (decimal). Returns a malloc'd buffer and its length, or NULL (out of
 * memory, or a field the decoder would refuse).
 * time_ms: a guest's clock starts from the emulated RTC, whose seconds tick from
 * QEMU's start rather than the host's, and an emulated guest drifts; the guest
 * steps its clock to the host's when an authenticated request finds it more
 * than KN_VM_CLOCK_SLACK_MS off, before the command starts. */
uint8_t *kn_vm_req_encode(const struct kn_vm_req *req, size_t *len);
/* Decodes a payload in place (the strings point into `buf`, which the decoder
 * NUL-terminates; it must have room for one byte after `len`). argv and env are
 * malloc'd: free with kn_vm_req_free. Returns 0, or -1 with *reason naming the
 * bad field. */
int kn_vm_req_decode(uint8_t *buf, size_t len, struct kn_vm_req *req, const char **reason);
void kn_vm_req_free(struct kn_vm_req *req);

struct kn_vm_config {
	char token[KN_VM_TOKEN_LEN + 1];
	char hostname[KN_VM_HOSTNAME_MAX + 1];
};
/* Writes the config file's text into buf; returns its length or -1 when it
 * does not fit. */
int kn_vm_config_format(const struct kn_vm_config *c, char *buf, size_t size);
/* 0, or -1 with *reason: an unknown key, a bad value, a missing token. */
int kn_vm_config_parse(const char *text, size_t len, struct kn_vm_config *c, const char **reason);

#endif
