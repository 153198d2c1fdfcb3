/*-------------------------------------------------------------------------
 *
 * security.c
 *		The Raft port's credentials (see security.h and docs/security.md).
 *
 * THE SHARED KEY.  pgraft.auth_key_file names a file, relative to the data
 * directory, of one or two lines: the cluster's secret, and optionally the
 * next or the previous one during a rotation.  Each line is used as it is
 * (trailing white space removed) and must be PGRAFT_AUTH_KEY_MIN to
 * PGRAFT_AUTH_KEY_MAX bytes; `openssl rand -hex 32` makes a good one.
 * Like PostgreSQL's ssl_key_file, the file must be a regular file that
 * neither group nor others may read, unless it belongs to root and is
 * readable by its group only.  The MAC is HMAC-SHA-256 from OpenSSL.
 *
 * TLS.  With pgraft.ssl on, pgraft.ssl_cert_file, _key_file, _ca_file and
 * _crl_file (relative to the data directory, like PostgreSQL's ssl_*
 * files) are loaded into a context (src/tls); the key file passes the same
 * permission check as the shared key.  Both may be on at once: the key's
 * proofs are then bound to the TLS channel.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/pg/security.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "security.h"
#include "settings.h"

#include "pgraft/tls.h"

#define PGRAFT_AUTH_KEY_MIN		16	/* bytes per key */
#define PGRAFT_AUTH_KEY_MAX		PGR_WIRE_KEY_MAX
#define PGRAFT_AUTH_FILE_MAX	4096

typedef struct Keys
{
	int			n;
	uint8		key[PGR_WIRE_AUTH_MAX_KEYS][PGRAFT_AUTH_KEY_MAX];
	size_t		len[PGR_WIRE_AUTH_MAX_KEYS];
} Keys;

static Keys keys;
static struct pgr_wire_auth auth;
static struct pgr_tls_ctx *tls_ctx; /* NULL: pgraft.ssl is off */

static void
hmac_sha256(void *arg, const uint8_t *key, size_t key_len, const uint8_t *msg,
			size_t len, uint8_t out[PGR_WIRE_MAC_LEN])
{
	unsigned int n = PGR_WIRE_MAC_LEN;

	(void) arg;
	if (HMAC(EVP_sha256(), key, (int) key_len, msg, len, out, &n) == NULL ||
		n != PGR_WIRE_MAC_LEN)
		elog(FATAL, "pgraft: HMAC-SHA-256 failed");
}

/* A secret file's permissions, as PostgreSQL checks its ssl_key_file. */
#define PRIVATE_FILE_RULE "%s \"%s\" has group or world access, or belongs to another user: it must be owned by the database user with permissions u=rw (0600) or less, or owned by root with u=rw,g=r (0640) or less"

static bool
private_enough(const struct stat *st)
{
	if (st->st_uid == geteuid())
		return (st->st_mode & (S_IRWXG | S_IRWXO)) == 0;
	if (st->st_uid == 0)
		return (st->st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) == 0;
	return false;
}

/* The TLS files, loaded; NULL (pgraft.ssl off) or false with why. */
static bool
tls_load(struct pgr_tls_ctx **out, char *why, size_t why_size)
{
	struct pgr_tls_files files;
	struct stat st;

	*out = NULL;
	if (!pgraft_ssl)
		return true;
	if (stat(pgraft_ssl_key_file, &st) == 0 && !private_enough(&st))
	{
		snprintf(why, why_size, PRIVATE_FILE_RULE, "pgraft.ssl_key_file", pgraft_ssl_key_file);
		return false;
	}
	files.cert_file = pgraft_ssl_cert_file;
	files.key_file = pgraft_ssl_key_file;
	files.ca_file = pgraft_ssl_ca_file;
	files.crl_file = pgraft_ssl_crl_file;
	*out = pgr_tls_ctx_new(&files, why, why_size);
	return *out != NULL;
}

static void
tls_warn_expiry(const struct pgr_tls_ctx *ctx)
{
	int64		left;

	if (ctx == NULL || pgr_tls_ctx_not_after(ctx) == 0)
		return;
	left = pgr_tls_ctx_not_after(ctx) - (int64) time(NULL);
	if (left < 0)
		ereport(WARNING,
				(errmsg("pgraft: the certificate in pgraft.ssl_cert_file \"%s\" has expired",
						pgraft_ssl_cert_file),
				 errdetail("Peers will refuse this node's connections."),
				 errhint("Install a new certificate and reload.")));
	else if (left < 30 * 86400)
		ereport(WARNING,
				(errmsg("pgraft: the certificate in pgraft.ssl_cert_file \"%s\" expires in %d days",
						pgraft_ssl_cert_file, (int) (left / 86400))));
}

/*
 * Read the key file into *out.  False with the reason in *why (a message
 * in PostgreSQL's style) if it cannot be used.
 */
static bool
keys_load(const char *path, Keys *out, char *why, size_t why_size)
{
	struct stat st;
	char		buf[PGRAFT_AUTH_FILE_MAX + 1];
	ssize_t		n;
	int			fd;
	char	   *line;
	char	   *save = NULL;

	memset(out, 0, sizeof(*out));
	if (path == NULL || path[0] == '\0')
		return true;
	fd = open(path, O_RDONLY | PG_BINARY, 0);
	if (fd < 0)
	{
		snprintf(why, why_size, "could not open pgraft.auth_key_file \"%s\": %m", path);
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		snprintf(why, why_size, "pgraft.auth_key_file \"%s\" is not a regular file", path);
		return false;
	}
	if (!private_enough(&st))
	{
		close(fd);
		snprintf(why, why_size, PRIVATE_FILE_RULE, "pgraft.auth_key_file", path);
		return false;
	}
	n = read(fd, buf, PGRAFT_AUTH_FILE_MAX + 1);
	close(fd);
	if (n < 0 || n > PGRAFT_AUTH_FILE_MAX)
	{
		snprintf(why, why_size, n < 0 ? "could not read pgraft.auth_key_file \"%s\": %m" :
				 "pgraft.auth_key_file \"%s\" is larger than 4 kB", path);
		return false;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL)
	{
		snprintf(why, why_size, "pgraft.auth_key_file \"%s\" contains a NUL byte: write the key as text, e.g. with openssl rand -hex 32",
				 path);
		goto bad;
	}
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		size_t		len = strlen(line);

		while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
			len--;
		if (len == 0)
			continue;
		if (out->n == PGR_WIRE_AUTH_MAX_KEYS)
		{
			snprintf(why, why_size, "pgraft.auth_key_file \"%s\" holds more than %d keys",
					 path, PGR_WIRE_AUTH_MAX_KEYS);
			goto bad;
		}
		if (len < PGRAFT_AUTH_KEY_MIN || len > PGRAFT_AUTH_KEY_MAX)
		{
			snprintf(why, why_size, "key %d of pgraft.auth_key_file \"%s\" has %zu bytes; it must have %d to %d",
					 out->n + 1, path, len, PGRAFT_AUTH_KEY_MIN, PGRAFT_AUTH_KEY_MAX);
			goto bad;
		}
		memcpy(out->key[out->n], line, len);
		out->len[out->n] = len;
		out->n++;
	}
	if (out->n == 0)
	{
		snprintf(why, why_size, "pgraft.auth_key_file \"%s\" holds no key", path);
		goto bad;
	}
	explicit_bzero(buf, sizeof(buf));
	return true;

bad:
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(out, sizeof(*out));
	return false;
}

static void
auth_set(const Keys *k)
{
	keys = *k;
	memset(&auth, 0, sizeof(auth));
	auth.n_keys = keys.n;
	for (int i = 0; i < keys.n; i++)
	{
		auth.keys[i] = keys.key[i];
		auth.key_lens[i] = keys.len[i];
	}
	auth.mac = hmac_sha256;
}

/* Is the Raft port reachable only from this machine? */
static bool
listens_on_loopback(void)
{
	return strcmp(pgraft_address, "localhost") == 0 ||
		strncmp(pgraft_address, "127.", 4) == 0 ||
		strcmp(pgraft_address, "::1") == 0;
}

void
pgraft_security_init(void)
{
	Keys		k;
	char		why[2 * MAXPGPATH + 256];

	if (!keys_load(pgraft_auth_key_file, &k, why, sizeof(why)))
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("pgraft: %s", why)));
	auth_set(&k);
	explicit_bzero(&k, sizeof(k));
	if (!tls_load(&tls_ctx, why, sizeof(why)))
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("pgraft: %s", why),
				 errhint("Fix the pgraft.ssl_* settings or files, or set pgraft.ssl = off; see docs/security.md.")));
	tls_warn_expiry(tls_ctx);
	if (!pgraft_security_authenticates() && !listens_on_loopback())
		ereport(WARNING,
				(errmsg("pgraft: the Raft port %s:%d accepts unauthenticated peers",
						pgraft_address, pgraft_port),
				 errdetail("Anyone who can reach this port and learns the cluster id can take part in the cluster: vote, append entries, make itself leader."),
				 errhint("Set pgraft.ssl or pgraft.auth_key_file on every node, or firewall the port; see docs/security.md.")));
}

void
pgraft_security_reload(void)
{
	Keys		k;
	struct pgr_tls_ctx *ctx;
	char		why[2 * MAXPGPATH + 256];

	if (!tls_load(&ctx, why, sizeof(why)))
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("pgraft: %s", why),
				 errdetail("New connections go on using the TLS settings loaded before.")));
	else
	{
		/* connections in progress hold the old context until they close */
		pgr_tls_ctx_free(tls_ctx);
		tls_ctx = ctx;
		tls_warn_expiry(tls_ctx);
	}

	if (!keys_load(pgraft_auth_key_file, &k, why, sizeof(why)))
	{
		ereport(LOG,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("pgraft: %s", why),
				 errdetail("New connections go on using the key loaded before.")));
		return;
	}
	if (k.n != keys.n || memcmp(&k, &keys, sizeof(k)) != 0)
		ereport(LOG,
				(errmsg("pgraft: loaded %d key(s) from pgraft.auth_key_file for new connections", k.n)));
	auth_set(&k);
	explicit_bzero(&k, sizeof(k));
}

const struct pgr_wire_auth *
pgraft_security_auth(void)
{
	return &auth;
}

bool
pgraft_security_authenticates(void)
{
	return auth.n_keys > 0 || tls_ctx != NULL;
}

struct pgr_tls_ctx *
pgraft_security_tls(void)
{
	return tls_ctx;
}

void
pgraft_security_random(uint8 *buf, size_t len)
{
	if (!pg_strong_random(buf, len))
		ereport(FATAL, (errmsg("pgraft: could not generate random bytes")));
}
