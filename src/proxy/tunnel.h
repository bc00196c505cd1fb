/* tunnel.h — CONNECT tunnels: bytes moved between the client and the upstream
 * socket with splice(2), never copied through user space.
 *
 * Contract: kp_tunnel_start is called once the upstream connection is up. It
 * sends "200 Connection established" to the client and any bytes the client
 * sent after its CONNECT head to the upstream, then relays both directions
 * until each has seen EOF (which is passed on with shutdown(SHUT_WR)), an
 * error, or the idle timeout.
 *
 * A direction takes a pipe only while it moves bytes: it gets one from the
 * worker's pool (or creates one if the descriptor budget allows), splices the
 * source into it and the pipe into the destination, and gives it back as soon
 * as it is empty. A pipe stays with a tunnel only while the destination cannot
 * take the bytes, and then the source is not read (back-pressure). So an idle
 * tunnel holds its two sockets and its struct, nothing else. A direction that
 * finds no pipe available waits in the worker's FIFO and is woken when one is
 * returned. */
#ifndef KENNEL_PROXY_TUNNEL_H
#define KENNEL_PROXY_TUNNEL_H

#include <stdbool.h>
#include <stdint.h>

struct kp_conn;
struct kp_worker;
struct kp_pipe;

#define KP_DIR_WANT_READ 1u
#define KP_DIR_WANT_WRITE 2u
#define KP_DIR_SRC_EOF 4u
#define KP_DIR_DONE 8u
#define KP_DIR_WAIT_PIPE 16u

/* One direction: [0] client -> upstream, [1] upstream -> client. */
struct kp_dir {
	struct kp_pipe *pipe;
	uint32_t pending; /* bytes in the pipe */
	uint32_t flags;
	char *pre; /* bytes to send before splicing */
	uint32_t pre_len, pre_off;
};

void kp_tunnel_start(struct kp_conn *c);
/* An event on the client (`client_side`) or upstream socket. */
void kp_tunnel_event(struct kp_conn *c, bool client_side, uint32_t events);
void kp_tunnel_interest(const struct kp_conn *c, uint32_t *client_ev, uint32_t *up_ev);
/* Give back or close the pipes and leave the pipe queue (connection closing). */
void kp_tunnel_release(struct kp_conn *c);

#endif
