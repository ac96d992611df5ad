/*
 * relay.c - a minimal user-space TCP/UDP port relay (IPv4), written as a floor:
 * what a tight C loop over epoll does on a machine, to compare other relays with.
 *
 *   relay [-t N] [-G] [-u USERNS] [-n NETNS] tcp|udp LISTEN_IP:PORT TARGET_IP:PORT ...
 *
 *   -t N  N threads (default 1), each with its own epoll and its own SO_REUSEPORT
 *         listening sockets: the kernel spreads connections and UDP clients over them.
 *   -G    no UDP GSO (each datagram is sent on its own).
 *   -u, -n  after binding the listening sockets, join this user namespace, then this
 *         network namespace (paths such as /proc/PID/ns/net): the listeners stay on the
 *         host and the targets are dialled inside, where nsgate's builtin driver dials.
 *         The owner of a user namespace may join it unprivileged.
 *
 * TCP: accept4, then a nonblocking connect to the target; TCP_NODELAY on both sockets,
 * both watched edge-triggered for EPOLLIN|EPOLLOUT|EPOLLRDHUP. Each direction copies
 * (read + write through a 64 KiB buffer) while reads are small, and splices through a
 * pipe (1 MiB) once a read reaches 16 KiB, until a splice brings less than that.
 * A copied read that returns less than asked has emptied the receive queue, so the
 * read that would only say EAGAIN is skipped. EOF on one side is passed on as
 * shutdown(SHUT_WR) on the other; the connection closes when both ways are done.
 * An error on either side resets both.
 *
 * UDP: one socket on the listening address; per client address a flow socket
 * connected to the target (kept for the life of the process). Datagrams are read
 * with recvmmsg (64 at a time) and sent with sendmmsg, a run of same-size datagrams
 * of one client as one UDP GSO send (UDP_SEGMENT). Replies go back through the
 * listening socket to the client's address, the same way.
 *
 * Prints nothing unless something fails.  Build: gcc -O2 -Wall -pthread -o relay relay.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define COPY_SIZE     (64 << 10)        /* copy buffer, and leftover buffer of a short write */
#ifndef SMALL_READ
#define SMALL_READ    (16 << 10)        /* a read this big switches a direction to splice (nsgate's figure) */
#endif
#define PIPE_SIZE     (1 << 20)
#define PIPE_POOL     64                /* empty pipes kept per thread */
#define PUMP_ROUNDS   16                /* reads per direction per turn, for fairness */
#define ACCEPT_BATCH  64
#define MAX_EVENTS    256
#define UDP_BATCH     64
#define UDP_SLOT      65536             /* any IPv4 datagram fits */
#define GSO_MAX_BYTES (65535 - 20 - 8)  /* one GSO send is one IP packet before segmentation */
#define UDP_RCVBUF    (4 << 20)
#define FLOW_BITS     12                /* 4096 hash buckets per UDP listener */
#define SPLICE_FLAGS  (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

/* What an epoll event points at: every such struct starts with its type. */
enum { TCP_LISTENER, TCP_SIDE, UDP_LISTENER, UDP_FLOW };

struct forward {
	bool udp;
	struct sockaddr_in listen, target;
};

struct conn;

/* One socket of a TCP connection: 0 the client, 1 the target. */
struct side {
	int type, fd;
	struct conn *c;
	bool readable;  /* may have bytes (or an end) to read */
	bool writable;  /* may take bytes */
	bool rdhup;     /* an end or error is pending: read until it shows */
};

/* One way of a connection, from side k to side !k. */
struct dir {
	char *buf;            /* leftover of a short write: len bytes at off */
	size_t off, len;
	int pipe[2];          /* -1 while none */
	size_t inpipe;        /* bytes spliced in and not yet out */
	bool splice, eof, shut;
};

struct conn {
	struct side s[2];
	struct dir d[2];
	bool connected, dead, queued;
	struct conn *next;    /* on the thread's again or dead list */
};

struct tcp_listener {
	int type, fd;
	struct sockaddr_in target;
};

struct flow;

struct udp_listener {
	int type, fd;
	struct sockaddr_in target;
	struct flow **table;
};

struct flow {
	int type, fd;
	struct sockaddr_in client;
	struct udp_listener *l;
	bool gso;
	struct flow *next;
};

struct thread {
	pthread_t id;
	int ep;
	char *copy;                  /* COPY_SIZE */
	struct conn *again;          /* directions that used up their rounds */
	struct conn *dead;           /* closed this turn, freed at its end */
	int pool[PIPE_POOL][2], npool;
	/* UDP batches: datagram i is in buf + i * UDP_SLOT */
	char *ubuf;
	struct mmsghdr rm[UDP_BATCH], sm[UDP_BATCH];
	struct iovec riov[UDP_BATCH], siov[UDP_BATCH];
	struct sockaddr_in from[UDP_BATCH];
	int first[UDP_BATCH];        /* first datagram of send header i */
	bool coalesce;               /* a UDP stream is arriving: pause before the next wait */
	union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } ctl[UDP_BATCH];
};

static bool gso_ok = true;
/* nsgate's pause for a UDP stream (src/dataplane/loop.ts) */
#define COALESCE_US 50

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void set_int(int fd, int level, int name, int value)
{
	setsockopt(fd, level, name, &value, sizeof value);
}

static void watch(int ep, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl");
}

static void close_reset(int fd)
{
	struct linger l = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(fd);
}

/* ---- pipes ---- */

static bool pipe_take(struct thread *t, int p[2])
{
	if (t->npool > 0) {
		t->npool--;
		p[0] = t->pool[t->npool][0];
		p[1] = t->pool[t->npool][1];
		return true;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return false;
	fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE); /* best effort: a smaller pipe still works */
	return true;
}

/* Return an empty pipe to the pool; one with bytes in it is closed (only at close). */
static void pipe_give(struct thread *t, struct dir *d)
{
	if (d->pipe[0] < 0)
		return;
	if (d->inpipe == 0 && t->npool < PIPE_POOL) {
		t->pool[t->npool][0] = d->pipe[0];
		t->pool[t->npool][1] = d->pipe[1];
		t->npool++;
	} else {
		close(d->pipe[0]);
		close(d->pipe[1]);
	}
	d->pipe[0] = d->pipe[1] = -1;
	d->inpipe = 0;
}

/* ---- TCP ---- */

static void conn_close(struct thread *t, struct conn *c, bool reset)
{
	if (c->dead)
		return;
	c->dead = true;
	for (int k = 0; k < 2; k++) {
		if (reset)
			close_reset(c->s[k].fd);
		else
			close(c->s[k].fd);
		pipe_give(t, &c->d[k]);
	}
	/* A queued connection is freed when the again list reaches it. */
	if (!c->queued) {
		c->next = t->dead;
		t->dead = c;
	}
}

static void conn_free(struct conn *c)
{
	free(c->d[0].buf);
	free(c->d[1].buf);
	free(c);
}

/* Write what waits in d (leftover, then pipe) to `to`: 1 when all went, 0 if some waits, -1 on error. */
static int flush(struct dir *d, struct side *to)
{
	ssize_t n;
	if (d->len > 0) {
		if (!to->writable)
			return 0;
		n = write(to->fd, d->buf + d->off, d->len);
		if (n < 0)
			return errno == EAGAIN ? (to->writable = false, 0) : -1;
		d->off += n;
		d->len -= n;
		if (d->len > 0)
			return to->writable = false, 0;
	}
	if (d->inpipe > 0) {
		if (!to->writable)
			return 0;
		n = splice(d->pipe[0], NULL, to->fd, NULL, d->inpipe, SPLICE_FLAGS);
		if (n < 0)
			return errno == EAGAIN ? (to->writable = false, 0) : -1;
		d->inpipe -= n;
		if (d->inpipe > 0)
			return to->writable = false, 0;
	}
	return 1;
}

/*
 * Move bytes from side k to side !k until one of them would block.
 * 0 when done for now, -1 on an error (the caller resets the connection).
 */
static int pump(struct thread *t, struct conn *c, int k)
{
	struct dir *d = &c->d[k];
	struct side *from = &c->s[k], *to = &c->s[!k];

	for (int round = 0;; round++) {
		int r = flush(d, to);
		if (r <= 0)
			return r;
		if (d->eof) {
			if (!d->shut) {
				shutdown(to->fd, SHUT_WR);
				d->shut = true;
			}
			pipe_give(t, d);
			return 0;
		}
		if (!from->readable || !to->writable) {
			pipe_give(t, d);
			return 0;
		}
		if (round == PUMP_ROUNDS) {
			/* Let other connections have a turn; this one goes on after the next epoll_wait. */
			if (!c->queued) {
				c->queued = true;
				c->next = t->again;
				t->again = c;
			}
			return 0;
		}
		ssize_t n;
		if (d->splice && (d->pipe[0] >= 0 || pipe_take(t, d->pipe))) {
			n = splice(from->fd, NULL, d->pipe[1], NULL, PIPE_SIZE, SPLICE_FLAGS);
			if (n > 0) {
				d->inpipe = n;
				if (n < SMALL_READ)
					d->splice = false;
			}
		} else {
			n = read(from->fd, t->copy, COPY_SIZE);
			if (n > 0) {
				d->splice = n >= SMALL_READ;
				/* A short read emptied the queue; new bytes bring a new edge. */
				if (n < COPY_SIZE && !from->rdhup)
					from->readable = false;
				ssize_t w = write(to->fd, t->copy, n);
				if (w < 0) {
					if (errno != EAGAIN)
						return -1;
					w = 0;
				}
				if (w < n) {
					to->writable = false;
					if (!d->buf && !(d->buf = malloc(COPY_SIZE)))
						return -1;
					memcpy(d->buf, t->copy + w, n - w);
					d->off = 0;
					d->len = n - w;
				}
			}
		}
		if (n == 0) {
			d->eof = true;
		} else if (n < 0) {
			if (errno != EAGAIN)
				return -1;
			from->readable = false;
		}
	}
}

static void conn_pump(struct thread *t, struct conn *c)
{
	if (pump(t, c, 0) < 0 || pump(t, c, 1) < 0)
		conn_close(t, c, true);
	else if (c->d[0].shut && c->d[1].shut)
		conn_close(t, c, false);
}

static void on_side(struct thread *t, struct side *s, uint32_t ev)
{
	struct conn *c = s->c;
	if (c->dead)
		return;
	if (ev & EPOLLERR) { /* a reset, or a failed connect */
		conn_close(t, c, true);
		return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		s->readable = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		s->rdhup = true;
	if (ev & EPOLLOUT) {
		s->writable = true;
		if (s == &c->s[1])
			c->connected = true;
	}
	/* Until the connect completes, events are only noted. */
	if (c->connected)
		conn_pump(t, c);
}

static void on_tcp_listener(struct thread *t, struct tcp_listener *l)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int a = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (a < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				perror("accept4");
			return;
		}
		int b = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct conn *c = b < 0 ? NULL : calloc(1, sizeof *c);
		if (!c) {
			perror("socket");
			if (b >= 0)
				close(b);
			close_reset(a);
			continue;
		}
		set_int(a, IPPROTO_TCP, TCP_NODELAY, 1);
		set_int(b, IPPROTO_TCP, TCP_NODELAY, 1);
		if (connect(b, (struct sockaddr *)&l->target, sizeof l->target) < 0 && errno != EINPROGRESS) {
			close(b);
			close_reset(a);
			free(c);
			continue;
		}
		int fds[2] = { a, b };
		for (int k = 0; k < 2; k++) {
			c->s[k] = (struct side){ .type = TCP_SIDE, .fd = fds[k], .c = c };
			c->d[k].pipe[0] = c->d[k].pipe[1] = -1;
		}
		c->s[0].writable = true; /* the target side becomes writable when connected */
		watch(t->ep, a, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->s[0]);
		watch(t->ep, b, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->s[1]);
	}
}

/* ---- UDP ---- */

static struct flow *flow_get(struct thread *t, struct udp_listener *l, const struct sockaddr_in *a)
{
	uint64_t key = (uint64_t)a->sin_addr.s_addr << 16 | a->sin_port;
	unsigned h = (key * 0x9E3779B97F4A7C15ull) >> (64 - FLOW_BITS);
	for (struct flow *f = l->table[h]; f; f = f->next)
		if (f->client.sin_addr.s_addr == a->sin_addr.s_addr && f->client.sin_port == a->sin_port)
			return f;

	struct flow *f = calloc(1, sizeof *f);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!f || fd < 0) {
		perror("udp flow");
		free(f);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	set_int(fd, SOL_SOCKET, SO_RCVBUF, UDP_RCVBUF);
	if (connect(fd, (struct sockaddr *)&l->target, sizeof l->target) < 0) {
		perror("udp connect");
		close(fd);
		free(f);
		return NULL;
	}
	*f = (struct flow){ .type = UDP_FLOW, .fd = fd, .client = *a, .l = l, .gso = gso_ok, .next = l->table[h] };
	l->table[h] = f;
	watch(t->ep, fd, EPOLLIN, f); /* level-triggered: one batch per wakeup */
	return f;
}

/* One batch from fd into the thread's slots: how many datagrams. */
static int udp_receive(struct thread *t, int fd)
{
	for (int i = 0; i < UDP_BATCH; i++)
		t->rm[i].msg_hdr.msg_namelen = sizeof t->from[i];
	int n = recvmmsg(fd, t->rm, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0 && errno != EAGAIN && errno != ECONNREFUSED)
		perror("recvmmsg");
	/* As nsgate's relay (Loop.coalesce): more than one datagram yet less than a batch is a stream; a short
	 * pause lets the next batch fill instead of waking for every few datagrams. */
	if (n > 1 && n < UDP_BATCH)
		t->coalesce = true;
	return n;
}

/*
 * Send received datagrams [from, end) on fd, to `to` (NULL: the connected peer). A run
 * of datagrams of one size (the last may be shorter) goes as one GSO send. What the
 * kernel does not take now is dropped, as UDP may.
 */
static void udp_send(struct thread *t, int fd, struct sockaddr_in *to, int from, int end, bool *gso)
{
	int e = 0;
	for (int i = from; i < end; e++) {
		size_t seg = t->rm[i].msg_len, total = seg;
		int j = i + 1;
		t->siov[i] = (struct iovec){ t->ubuf + (size_t)i * UDP_SLOT, seg };
		if (*gso && seg > 0) {
			while (j < end) {
				size_t len = t->rm[j].msg_len;
				if (len == 0 || len > seg || total + len > GSO_MAX_BYTES)
					break;
				t->siov[j] = (struct iovec){ t->ubuf + (size_t)j * UDP_SLOT, len };
				total += len;
				j++;
				if (len < seg)
					break;
			}
		}
		struct msghdr *h = &t->sm[e].msg_hdr;
		*h = (struct msghdr){ .msg_name = to, .msg_namelen = to ? sizeof *to : 0,
		                      .msg_iov = &t->siov[i], .msg_iovlen = j - i };
		if (j - i > 1) {
			h->msg_control = t->ctl[e].buf;
			h->msg_controllen = sizeof t->ctl[e].buf;
			struct cmsghdr *cm = CMSG_FIRSTHDR(h);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			*(uint16_t *)CMSG_DATA(cm) = seg;
		}
		t->first[e] = i;
		i = j;
	}
	for (int m = 0; m < e;) {
		int n = sendmmsg(fd, t->sm + m, e - m, MSG_DONTWAIT);
		if (n > 0) {
			m += n;
		} else if (errno == EAGAIN) {
			return;
		} else if (t->sm[m].msg_hdr.msg_iovlen > 1 && (errno == EMSGSIZE || errno == EINVAL || errno == EIO)) {
			/* This path refuses GSO (datagrams over its MTU): one by one from here on. */
			*gso = false;
			udp_send(t, fd, to, t->first[m], end, gso);
			return;
		} else {
			m++; /* a refused datagram (ECONNREFUSED: nobody at the target) is dropped */
		}
	}
}

static void on_udp_listener(struct thread *t, struct udp_listener *l)
{
	int n = udp_receive(t, l->fd);
	/* Each run of datagrams from one client goes to its flow in one sendmmsg. */
	struct flow *run = NULL;
	for (int i = 0, start = 0; i <= n; i++) {
		struct flow *f = i < n ? flow_get(t, l, &t->from[i]) : NULL;
		if (i < n && f == run)
			continue;
		if (run)
			udp_send(t, run->fd, NULL, start, i, &run->gso);
		run = f;
		start = i;
	}
}

static void on_flow(struct thread *t, struct flow *f)
{
	int n = udp_receive(t, f->fd);
	if (n > 0)
		udp_send(t, f->l->fd, &f->client, 0, n, &f->gso);
}

/* ---- threads and setup ---- */

static void *run(void *arg)
{
	struct thread *t = arg;
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(t->ep, evs, MAX_EVENTS, t->again ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		struct conn *again = t->again;
		t->again = NULL;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			switch (*(int *)p) {
			case TCP_LISTENER: on_tcp_listener(t, p); break;
			case TCP_SIDE: on_side(t, p, evs[i].events); break;
			case UDP_LISTENER: on_udp_listener(t, p); break;
			case UDP_FLOW: on_flow(t, p); break;
			}
		}
		while (again) {
			struct conn *c = again;
			again = c->next;
			c->queued = false;
			if (c->dead)
				conn_free(c);
			else
				conn_pump(t, c);
		}
		while (t->dead) {
			struct conn *c = t->dead;
			t->dead = c->next;
			conn_free(c);
		}
		if (t->coalesce) {
			t->coalesce = false;
			usleep(COALESCE_US);
		}
	}
	return NULL;
}

static int listener(const struct forward *f)
{
	int fd = socket(AF_INET, (f->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (f->udp)
		set_int(fd, SOL_SOCKET, SO_RCVBUF, UDP_RCVBUF);
	if (bind(fd, (const struct sockaddr *)&f->listen, sizeof f->listen) < 0)
		die("bind");
	if (!f->udp && listen(fd, 4096) < 0)
		die("listen");
	return fd;
}

static bool parse_addr(const char *s, struct sockaddr_in *a)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	if (!colon || colon - s >= (long)sizeof ip)
		return false;
	memcpy(ip, s, colon - s);
	ip[colon - s] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	return *end == 0 && colon[1] && port > 0 && port < 65536 && inet_pton(AF_INET, ip, &a->sin_addr) == 1;
}

/* Join the namespace at `path` (none when NULL). */
static void join(const char *path, int type)
{
	if (!path)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, type) < 0)
		die(path);
	close(fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: relay [-t N] [-G] [-u USERNS] [-n NETNS] tcp|udp LISTEN_IP:PORT TARGET_IP:PORT "
	                "[tcp|udp LISTEN_IP:PORT TARGET_IP:PORT] ...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int nthreads = 1, i = 1;
	const char *userns = NULL, *netns = NULL;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-t") && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-u") && i + 1 < argc)
			userns = argv[++i];
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			netns = argv[++i];
		else if (!strcmp(argv[i], "-G"))
			gso_ok = false;
		else
			usage();
	}
	int nfwd = (argc - i) / 3;
	if (nthreads < 1 || nfwd < 1 || (argc - i) % 3)
		usage();
	struct forward *fwd = calloc(nfwd, sizeof *fwd);
	for (int k = 0; k < nfwd; k++, i += 3) {
		if (strcmp(argv[i], "tcp") && strcmp(argv[i], "udp"))
			usage();
		fwd[k].udp = !strcmp(argv[i], "udp");
		if (!parse_addr(argv[i + 1], &fwd[k].listen) || !parse_addr(argv[i + 2], &fwd[k].target)) {
			fprintf(stderr, "relay: bad address in %s %s %s\n", argv[i], argv[i + 1], argv[i + 2]);
			exit(2);
		}
	}

	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (gso_ok) { /* a kernel without UDP GSO would not know the option */
		int fd = socket(AF_INET, SOCK_DGRAM, 0), v;
		socklen_t len = sizeof v;
		gso_ok = fd >= 0 && getsockopt(fd, SOL_UDP, UDP_SEGMENT, &v, &len) == 0;
		if (fd >= 0)
			close(fd);
	}

	/* Every socket is bound before any thread runs, so a bad address fails at once. */
	struct thread *threads = calloc(nthreads, sizeof *threads);
	for (int n = 0; n < nthreads; n++) {
		struct thread *t = &threads[n];
		if ((t->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
			die("epoll_create1");
		t->copy = malloc(COPY_SIZE);
		t->ubuf = malloc((size_t)UDP_BATCH * UDP_SLOT);
		if (!t->copy || !t->ubuf)
			die("malloc");
		for (int j = 0; j < UDP_BATCH; j++) {
			t->riov[j] = (struct iovec){ t->ubuf + (size_t)j * UDP_SLOT, UDP_SLOT };
			t->rm[j].msg_hdr = (struct msghdr){ .msg_name = &t->from[j], .msg_iov = &t->riov[j], .msg_iovlen = 1 };
		}
		for (int k = 0; k < nfwd; k++) {
			if (fwd[k].udp) {
				struct udp_listener *l = malloc(sizeof *l);
				struct flow **table = calloc(1u << FLOW_BITS, sizeof *table);
				if (!l || !table)
					die("calloc");
				*l = (struct udp_listener){ UDP_LISTENER, listener(&fwd[k]), fwd[k].target, table };
				watch(t->ep, l->fd, EPOLLIN, l);
			} else {
				struct tcp_listener *l = malloc(sizeof *l);
				if (!l)
					die("calloc");
				*l = (struct tcp_listener){ TCP_LISTENER, listener(&fwd[k]), fwd[k].target };
				watch(t->ep, l->fd, EPOLLIN, l);
			}
		}
	}
	/* Before any thread runs: setns(CLONE_NEWUSER) wants a single-threaded caller. */
	join(userns, CLONE_NEWUSER);
	join(netns, CLONE_NEWNET);
	for (int n = 1; n < nthreads; n++) {
		int err = pthread_create(&threads[n].id, NULL, run, &threads[n]);
		if (err) {
			errno = err;
			die("pthread_create");
		}
	}
	run(&threads[0]);
	return 0;
}
