/*-------------------------------------------------------------------------
 *
 * tls_testutil.h
 *		Certificates made in-process for the TLS unit test and fuzzer.
 *
 * tls_make_pki(dir) writes a cluster CA, another CA, and node certificates
 * signed by them into dir (PEM, keys unencrypted), so that the tests load
 * them the way a node loads its pgraft.ssl_* files.  Nothing is committed:
 * every run makes its own.
 *
 *	ca.crt             the cluster CA
 *	n1.crt/.key        CN pgraft-node-1.<cluster>
 *	n2.crt/.key        CN "a host", SAN DNS pgraft-node-2.<cluster>
 *	stranger.crt/.key  CN pgraft-node-3.<cluster>, signed by another CA
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/tls_testutil.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAFT_TLS_TESTUTIL_H
#define PGRAFT_TLS_TESTUTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TLS_TEST_CLUSTER "testcluster"

static EVP_PKEY *
tls_test_key(void)
{
	return EVP_EC_gen("P-256");
}

static bool
tls_test_write(const char *dir, const char *name, X509 *cert, EVP_PKEY *key)
{
	char path[512];
	FILE *f;
	bool ok = true;

	snprintf(path, sizeof(path), "%s/%s.crt", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		return false;
	ok = PEM_write_X509(f, cert) == 1;
	fclose(f);
	if (key != NULL && ok)
	{
		snprintf(path, sizeof(path), "%s/%s.key", dir, name);
		f = fopen(path, "w");
		if (f == NULL)
			return false;
		ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
		fclose(f);
	}
	return ok;
}

/* A certificate for cn (and san, if not NULL) signed by issuer/ikey (self if NULL). */
static X509 *
tls_test_cert(const char *cn, const char *san, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
			  long serial)
{
	X509 *c = X509_new();
	X509_NAME *n;
	X509V3_CTX v3;

	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509_set_pubkey(c, key);
	n = X509_get_subject_name(c);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : n);
	X509V3_set_ctx(&v3, issuer ? issuer : c, c, NULL, NULL, 0);
	if (issuer == NULL)
	{
		X509_EXTENSION *e =
			X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");

		X509_add_ext(c, e, -1);
		X509_EXTENSION_free(e);
	}
	if (san != NULL)
	{
		char v[300];
		X509_EXTENSION *e;

		snprintf(v, sizeof(v), "DNS:%s", san);
		e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, v);
		X509_add_ext(c, e, -1);
		X509_EXTENSION_free(e);
	}
	X509_sign(c, ikey ? ikey : key, EVP_sha256());
	return c;
}

static bool
tls_make_pki(const char *dir)
{
	EVP_PKEY *cak = tls_test_key();
	EVP_PKEY *ok = tls_test_key();
	EVP_PKEY *k1 = tls_test_key();
	EVP_PKEY *k2 = tls_test_key();
	EVP_PKEY *k3 = tls_test_key();
	X509 *ca = tls_test_cert("test CA", NULL, cak, NULL, NULL, 1);
	X509 *other = tls_test_cert("other CA", NULL, ok, NULL, NULL, 2);
	X509 *n1 = tls_test_cert("pgraft-node-1." TLS_TEST_CLUSTER, NULL, k1, ca, cak, 3);
	X509 *n2 = tls_test_cert("a host", "pgraft-node-2." TLS_TEST_CLUSTER, k2, ca, cak, 4);
	X509 *n3 = tls_test_cert("pgraft-node-3." TLS_TEST_CLUSTER, NULL, k3, other, ok, 5);
	bool done = tls_test_write(dir, "ca", ca, NULL) && tls_test_write(dir, "n1", n1, k1) &&
				tls_test_write(dir, "n2", n2, k2) && tls_test_write(dir, "stranger", n3, k3);

	X509_free(ca);
	X509_free(other);
	X509_free(n1);
	X509_free(n2);
	X509_free(n3);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(ok);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
	return done;
}

/* Remove what tls_make_pki wrote, and dir. */
static void
tls_remove_pki(const char *dir)
{
	static const char *const files[] = {"ca.crt", "n1.crt",       "n1.key",      "n2.crt",
										"n2.key", "stranger.crt", "stranger.key"};
	char path[512];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
	{
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		(void) unlink(path);
	}
	(void) rmdir(dir);
}

/* Load node name's files from dir with the CA. */
static struct pgr_tls_ctx *
tls_test_ctx(const char *dir, const char *name, char *why, size_t why_size)
{
	char cert[512];
	char key[512];
	char ca[512];
	struct pgr_tls_files f;

	snprintf(cert, sizeof(cert), "%s/%s.crt", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	f.cert_file = cert;
	f.key_file = key;
	f.ca_file = ca;
	f.crl_file = NULL;
	return pgr_tls_ctx_new(&f, why, why_size);
}

/* Move bytes between two ends until neither has anything to send. */
static void
tls_test_pump(struct pgr_tls_conn *a, struct pgr_tls_conn *b)
{
	uint8_t buf[16384];

	for (int round = 0; round < 16; round++)
	{
		size_t n;
		bool moved = false;

		(void) pgr_tls_handshake(a);
		(void) pgr_tls_handshake(b);
		while ((n = pgr_tls_take_out(a, buf, sizeof(buf))) > 0)
		{
			(void) pgr_tls_feed(b, buf, n);
			moved = true;
		}
		while ((n = pgr_tls_take_out(b, buf, sizeof(buf))) > 0)
		{
			(void) pgr_tls_feed(a, buf, n);
			moved = true;
		}
		if (!moved)
			break;
	}
}

#endif /* PGRAFT_TLS_TESTUTIL_H */
