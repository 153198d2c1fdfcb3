/*-------------------------------------------------------------------------
 *
 * tls.c
 *		TLS for the Raft transport over memory BIOs (see include/pgraft/tls.h).
 *
 * Each connection's SSL object reads from one memory BIO (what the network
 * delivered) and writes to another (what must go on the network).  Writes
 * to a memory BIO never block, so SSL_write always takes everything and no
 * operation ever wants the socket writable; the only "want" is more input.
 *
 * The context: TLS 1.2 at least, both ends must present a certificate
 * signed by the CA file (SSL_VERIFY_PEER | FAIL_IF_NO_PEER_CERT, on the
 * client and the server alike), revocation checked against the CRL file
 * for the whole chain when one is given, no session resumption (every
 * connection proves its certificate anew, and a revoked certificate cannot
 * ride an old session), and no passphrase prompt (an encrypted key is
 * refused, never asked for on a terminal the server does not have).
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/tls/tls.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pgraft/tls.h"

#define PGR_TLS_NODE_PREFIX    "pgraft-node-"
#define PGR_TLS_EXPORTER_LABEL "EXPORTER-pgraft-auth"

struct pgr_tls_ctx
{
	SSL_CTX *ssl_ctx;
	int64_t not_after;
};

struct pgr_tls_conn
{
	SSL *ssl;
	BIO *in;   /* network -> SSL */
	BIO *out;  /* SSL -> network */
	bool done; /* handshake complete */
	bool failed;
	char error[256];
};

/* The last OpenSSL error as text, or fallback. */
static void
ssl_error_text(char *buf, size_t size, const char *fallback)
{
	unsigned long e = ERR_get_error();
	unsigned long next;

	/* the first error queued is the cause; drain the rest */
	while ((next = ERR_get_error()) != 0)
		;
	if (e == 0)
		snprintf(buf, size, "%s", fallback);
	else
		snprintf(buf, size, "%s",
				 ERR_reason_error_string(e) ? ERR_reason_error_string(e) : fallback);
}

static int
no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	(void) buf;
	(void) size;
	(void) rwflag;
	(void) userdata;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Context                                                                */
/* ---------------------------------------------------------------------- */

struct pgr_tls_ctx *
pgr_tls_ctx_new(const struct pgr_tls_files *f, char *why, size_t why_size)
{
	struct pgr_tls_ctx *ctx;
	SSL_CTX *c;
	char err[200];
	X509 *cert;

	ERR_clear_error();
	if (f->cert_file == NULL || f->cert_file[0] == '\0' || f->key_file == NULL ||
		f->key_file[0] == '\0' || f->ca_file == NULL || f->ca_file[0] == '\0')
	{
		snprintf(
			why, why_size,
			"pgraft.ssl_cert_file, pgraft.ssl_key_file and pgraft.ssl_ca_file must all be set");
		return NULL;
	}
	c = SSL_CTX_new(TLS_method());
	if (c == NULL)
	{
		snprintf(why, why_size, "could not create a TLS context");
		return NULL;
	}
	SSL_CTX_set_default_passwd_cb(c, no_passphrase);
	if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1)
	{
		snprintf(why, why_size, "could not require TLS 1.2 or later");
		goto fail;
	}
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
							   SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(c, 0);

	if (SSL_CTX_use_certificate_chain_file(c, f->cert_file) != 1)
	{
		ssl_error_text(err, sizeof(err), "unknown error");
		snprintf(why, why_size, "could not load the certificate file \"%s\": %s", f->cert_file,
				 err);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c, f->key_file, SSL_FILETYPE_PEM) != 1)
	{
		ssl_error_text(err, sizeof(err), "unknown error");
		snprintf(
			why, why_size,
			"could not load the private key file \"%s\" (it must match the certificate and not be encrypted): %s",
			f->key_file, err);
		goto fail;
	}
	if (SSL_CTX_check_private_key(c) != 1)
	{
		ssl_error_text(err, sizeof(err), "unknown error");
		snprintf(why, why_size, "the private key \"%s\" does not match the certificate \"%s\": %s",
				 f->key_file, f->cert_file, err);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(c, f->ca_file, NULL) != 1)
	{
		ssl_error_text(err, sizeof(err), "unknown error");
		snprintf(why, why_size, "could not load the CA file \"%s\": %s", f->ca_file, err);
		goto fail;
	}
	if (f->crl_file != NULL && f->crl_file[0] != '\0')
	{
		X509_STORE *store = SSL_CTX_get_cert_store(c);

		if (store == NULL || X509_STORE_load_locations(store, f->crl_file, NULL) != 1)
		{
			ssl_error_text(err, sizeof(err), "unknown error");
			snprintf(why, why_size, "could not load the CRL file \"%s\": %s", f->crl_file, err);
			goto fail;
		}
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);

	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
	{
		snprintf(why, why_size, "out of memory");
		goto fail;
	}
	ctx->ssl_ctx = c;
	cert = SSL_CTX_get0_certificate(c);
	if (cert != NULL)
	{
		int days = 0;
		int secs = 0;

		if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) == 1)
			ctx->not_after = (int64_t) time(NULL) + (int64_t) days * 86400 + secs;
	}
	return ctx;

fail:
	SSL_CTX_free(c);
	ERR_clear_error();
	return NULL;
}

void
pgr_tls_ctx_free(struct pgr_tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl_ctx); /* connections hold references of their own */
	free(ctx);
}

int64_t
pgr_tls_ctx_not_after(const struct pgr_tls_ctx *ctx)
{
	return ctx->not_after;
}

/* ---------------------------------------------------------------------- */
/* Connections                                                            */
/* ---------------------------------------------------------------------- */

struct pgr_tls_conn *
pgr_tls_conn_new(struct pgr_tls_ctx *ctx, bool dialer)
{
	struct pgr_tls_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ssl = SSL_new(ctx->ssl_ctx);
	c->in = BIO_new(BIO_s_mem());
	c->out = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->in == NULL || c->out == NULL)
	{
		SSL_free(c->ssl);
		BIO_free(c->in);
		BIO_free(c->out);
		free(c);
		return NULL;
	}
	/* an empty input BIO says "retry", not "end of file" */
	BIO_set_mem_eof_return(c->in, -1);
	SSL_set_bio(c->ssl, c->in, c->out);
	if (dialer)
		SSL_set_connect_state(c->ssl);
	else
		SSL_set_accept_state(c->ssl);
	return c;
}

void
pgr_tls_conn_free(struct pgr_tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl); /* frees both BIOs */
	free(c);
}

bool
pgr_tls_feed(struct pgr_tls_conn *c, const uint8_t *buf, size_t len)
{
	while (len > 0)
	{
		int chunk = len > (1 << 30) ? (1 << 30) : (int) len;
		int n = BIO_write(c->in, buf, chunk);

		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t) n;
	}
	return true;
}

/* An SSL call returned r: classify, and remember why if it failed. */
static enum pgr_tls_status
conn_status(struct pgr_tls_conn *c, int r)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return PGR_TLS_AGAIN;
	if (e == SSL_ERROR_ZERO_RETURN)
		return PGR_TLS_CLOSED;
	if (!c->failed)
	{
		long v = SSL_get_verify_result(c->ssl);
		char err[200];

		ssl_error_text(err, sizeof(err),
					   e == SSL_ERROR_SYSCALL ? "unexpected end of the TLS stream"
											  : "TLS protocol error");
		if (v != X509_V_OK)
			snprintf(c->error, sizeof(c->error), "%s: %s", err, X509_verify_cert_error_string(v));
		else
			snprintf(c->error, sizeof(c->error), "%s", err);
		c->failed = true;
	}
	ERR_clear_error();
	return PGR_TLS_FAILED;
}

enum pgr_tls_status
pgr_tls_handshake(struct pgr_tls_conn *c)
{
	int r;

	if (c->failed)
		return PGR_TLS_FAILED;
	if (c->done)
		return PGR_TLS_OK;
	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1)
	{
		c->done = true;
		return PGR_TLS_OK;
	}
	return conn_status(c, r);
}

enum pgr_tls_status
pgr_tls_read(struct pgr_tls_conn *c, uint8_t *out, size_t cap, size_t *n)
{
	int r;

	*n = 0;
	if (c->failed)
		return PGR_TLS_FAILED;
	if (!c->done || cap == 0)
		return PGR_TLS_AGAIN;
	ERR_clear_error();
	r = SSL_read(c->ssl, out, cap > (1 << 30) ? (1 << 30) : (int) cap);
	if (r > 0)
	{
		*n = (size_t) r;
		return PGR_TLS_OK;
	}
	return conn_status(c, r);
}

enum pgr_tls_status
pgr_tls_write(struct pgr_tls_conn *c, const uint8_t *buf, size_t len)
{
	if (c->failed)
		return PGR_TLS_FAILED;
	if (!c->done)
		return PGR_TLS_AGAIN;
	while (len > 0)
	{
		int chunk = len > (1 << 30) ? (1 << 30) : (int) len;
		int r;

		ERR_clear_error();
		r = SSL_write(c->ssl, buf, chunk);
		if (r <= 0)
			return conn_status(c, r);
		buf += r;
		len -= (size_t) r;
	}
	return PGR_TLS_OK;
}

size_t
pgr_tls_out_pending(const struct pgr_tls_conn *c)
{
	return BIO_ctrl_pending(c->out);
}

size_t
pgr_tls_take_out(struct pgr_tls_conn *c, uint8_t *buf, size_t cap)
{
	int n;

	if (cap == 0)
		return 0;
	n = BIO_read(c->out, buf, cap > (1 << 30) ? (1 << 30) : (int) cap);
	return n > 0 ? (size_t) n : 0;
}

const char *
pgr_tls_error(const struct pgr_tls_conn *c)
{
	return c->error;
}

const char *
pgr_tls_version(const struct pgr_tls_conn *c)
{
	return SSL_get_version(c->ssl);
}

/* ---------------------------------------------------------------------- */
/* Identity                                                               */
/* ---------------------------------------------------------------------- */

enum pgr_tls_identity
pgr_tls_parse_node_name(const char *name, size_t len, const char *cluster_name, uint64_t *id)
{
	size_t plen = strlen(PGR_TLS_NODE_PREFIX);
	size_t i = plen;
	uint64_t v = 0;

	if (len <= plen || strncmp(name, PGR_TLS_NODE_PREFIX, plen) != 0 ||
		!isdigit((unsigned char) name[plen]) || name[plen] == '0')
		return PGR_TLS_ID_NO_NAME;
	while (i < len && isdigit((unsigned char) name[i]))
	{
		uint64_t d = (uint64_t) (name[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return PGR_TLS_ID_NO_NAME;
		v = v * 10 + d;
		i++;
	}
	if (i >= len || name[i] != '.' || i + 1 >= len)
		return PGR_TLS_ID_NO_NAME;
	i++;
	/* the rest is the cluster name, exactly (names may hold any printable byte) */
	if (len - i != strlen(cluster_name) || memcmp(name + i, cluster_name, len - i) != 0)
		return PGR_TLS_ID_OTHER_CLUSTER;
	*id = v;
	return PGR_TLS_ID_OK;
}

enum pgr_tls_identity
pgr_tls_peer_identity(const struct pgr_tls_conn *c, const char *cluster_name, uint64_t *id)
{
	X509 *cert = SSL_get_peer_certificate(c->ssl);
	enum pgr_tls_identity best = PGR_TLS_ID_NO_NAME;
	GENERAL_NAMES *sans;
	X509_NAME *subject;
	int idx;

	if (cert == NULL)
		return PGR_TLS_ID_NO_NAME;
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans); i++)
	{
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		enum pgr_tls_identity r;

		if (gn->type != GEN_DNS)
			continue;
		r = pgr_tls_parse_node_name((const char *) ASN1_STRING_get0_data(gn->d.dNSName),
									(size_t) ASN1_STRING_length(gn->d.dNSName), cluster_name, id);
		if (r == PGR_TLS_ID_OK)
		{
			GENERAL_NAMES_free(sans);
			X509_free(cert);
			return r;
		}
		if (r == PGR_TLS_ID_OTHER_CLUSTER)
			best = r;
	}
	GENERAL_NAMES_free(sans);
	subject = X509_get_subject_name(cert);
	idx = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
	if (idx >= 0)
	{
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
		enum pgr_tls_identity r;

		r = pgr_tls_parse_node_name((const char *) ASN1_STRING_get0_data(cn),
									(size_t) ASN1_STRING_length(cn), cluster_name, id);
		if (r != PGR_TLS_ID_NO_NAME)
			best = r;
	}
	X509_free(cert);
	return best;
}

bool
pgr_tls_binding(const struct pgr_tls_conn *c, uint8_t out[PGR_TLS_BINDING_LEN])
{
	return SSL_export_keying_material(c->ssl, out, PGR_TLS_BINDING_LEN, PGR_TLS_EXPORTER_LABEL,
									  strlen(PGR_TLS_EXPORTER_LABEL), NULL, 0, 0) == 1;
}
