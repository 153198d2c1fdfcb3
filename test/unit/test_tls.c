/*-------------------------------------------------------------------------
 *
 * test_tls.c
 *		Unit tests of TLS over memory buffers (include/pgraft/tls.h).
 *
 * Two ends in one process, with certificates made for the run
 * (tls_testutil.h): the handshake completes, data flows both ways, each end
 * learns the node id the other's certificate names, and both derive the
 * same channel binding.  A certificate from another CA, or none, fails the
 * handshake with a reason; garbage fails it without a crash; bad files are
 * refused with a reason when the context is loaded.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * test/unit/test_tls.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgraft/tls.h"

#include "harness.h"
#include "tls_testutil.h"

static char pki[256];

static void
pki_remove(void)
{
	tls_remove_pki(pki);
}

static bool
pki_ready(void)
{
	if (pki[0] != '\0')
		return true;
	strcpy(pki, "/tmp/pgraft-tls-test-XXXXXX");
	if (mkdtemp(pki) == NULL)
		return false;
	atexit(pki_remove);
	return tls_make_pki(pki);
}

static void
test_two_nodes_handshake_and_exchange_data(void)
{
	char why[256];
	struct pgr_tls_ctx *c1;
	struct pgr_tls_ctx *c2;
	struct pgr_tls_conn *d;
	struct pgr_tls_conn *a;
	uint8_t buf[64];
	size_t n;
	uint64_t id = 0;
	uint8_t bd[PGR_TLS_BINDING_LEN];
	uint8_t ba[PGR_TLS_BINDING_LEN];

	CHECK(pki_ready());
	c1 = tls_test_ctx(pki, "n1", why, sizeof(why));
	c2 = tls_test_ctx(pki, "n2", why, sizeof(why));
	CHECK(c1 != NULL && c2 != NULL);
	d = pgr_tls_conn_new(c1, true);
	a = pgr_tls_conn_new(c2, false);
	tls_test_pump(d, a);
	CHECK_EQ(pgr_tls_handshake(d), PGR_TLS_OK);
	CHECK_EQ(pgr_tls_handshake(a), PGR_TLS_OK);
	CHECK(strcmp(pgr_tls_version(d), "TLSv1.3") == 0);

	/* each knows whom the other's certificate names: CN, then SAN */
	CHECK_EQ(pgr_tls_peer_identity(a, TLS_TEST_CLUSTER, &id), PGR_TLS_ID_OK);
	CHECK_EQ(id, 1);
	CHECK_EQ(pgr_tls_peer_identity(d, TLS_TEST_CLUSTER, &id), PGR_TLS_ID_OK);
	CHECK_EQ(id, 2);
	CHECK_EQ(pgr_tls_peer_identity(d, "othercluster", &id), PGR_TLS_ID_OTHER_CLUSTER);

	/* the same binding at both ends */
	CHECK(pgr_tls_binding(d, bd));
	CHECK(pgr_tls_binding(a, ba));
	CHECK(memcmp(bd, ba, sizeof(bd)) == 0);

	/* data both ways, and nothing in clear on the wire */
	CHECK_EQ(pgr_tls_write(d, (const uint8_t *) "hello, acceptor", 15), PGR_TLS_OK);
	n = pgr_tls_take_out(d, buf, sizeof(buf));
	CHECK(n > 15);
	for (size_t i = 0; i + 5 <= n; i++)
		CHECK(memcmp(buf + i, "hello", 5) != 0);
	CHECK(pgr_tls_feed(a, buf, n));
	CHECK_EQ(pgr_tls_read(a, buf, sizeof(buf), &n), PGR_TLS_OK);
	CHECK_EQ(n, 15);
	CHECK(memcmp(buf, "hello, acceptor", 15) == 0);
	CHECK_EQ(pgr_tls_read(a, buf, sizeof(buf), &n), PGR_TLS_AGAIN);
	CHECK_EQ(pgr_tls_write(a, (const uint8_t *) "hi", 2), PGR_TLS_OK);
	tls_test_pump(d, a);
	CHECK_EQ(pgr_tls_read(d, buf, sizeof(buf), &n), PGR_TLS_OK);
	CHECK_EQ(n, 2);

	pgr_tls_conn_free(d);
	pgr_tls_conn_free(a);
	/* a second connection: another binding */
	d = pgr_tls_conn_new(c1, true);
	a = pgr_tls_conn_new(c2, false);
	tls_test_pump(d, a);
	CHECK(pgr_tls_binding(d, ba));
	CHECK(memcmp(bd, ba, sizeof(bd)) != 0);
	pgr_tls_conn_free(d);
	pgr_tls_conn_free(a);
	pgr_tls_ctx_free(c1);
	pgr_tls_ctx_free(c2);
}

static void
test_a_certificate_of_another_ca_fails_the_handshake(void)
{
	char why[256];
	struct pgr_tls_ctx *c1 = NULL;
	struct pgr_tls_ctx *cs;
	struct pgr_tls_conn *d;
	struct pgr_tls_conn *a;

	CHECK(pki_ready());
	c1 = tls_test_ctx(pki, "n1", why, sizeof(why));
	cs = tls_test_ctx(pki, "stranger", why, sizeof(why));
	CHECK(c1 != NULL && cs != NULL);

	/* the stranger dials: the acceptor refuses its certificate */
	d = pgr_tls_conn_new(cs, true);
	a = pgr_tls_conn_new(c1, false);
	tls_test_pump(d, a);
	CHECK_EQ(pgr_tls_handshake(a), PGR_TLS_FAILED);
	CHECK(strstr(pgr_tls_error(a), "certificate verify failed") != NULL);
	pgr_tls_conn_free(d);
	pgr_tls_conn_free(a);

	/* the stranger accepts: the dialer refuses its certificate */
	d = pgr_tls_conn_new(c1, true);
	a = pgr_tls_conn_new(cs, false);
	tls_test_pump(d, a);
	CHECK_EQ(pgr_tls_handshake(d), PGR_TLS_FAILED);
	CHECK(strstr(pgr_tls_error(d), "certificate verify failed") != NULL);
	pgr_tls_conn_free(d);
	pgr_tls_conn_free(a);
	pgr_tls_ctx_free(c1);
	pgr_tls_ctx_free(cs);
}

static void
test_garbage_fails_the_handshake_without_harm(void)
{
	char why[256];
	struct pgr_tls_ctx *c1;
	struct pgr_tls_conn *a;
	uint8_t junk[4096];

	CHECK(pki_ready());
	c1 = tls_test_ctx(pki, "n1", why, sizeof(why));
	CHECK(c1 != NULL);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t) (i * 131 + 7);
	a = pgr_tls_conn_new(c1, false);
	CHECK(pgr_tls_feed(a, junk, sizeof(junk)));
	CHECK_EQ(pgr_tls_handshake(a), PGR_TLS_FAILED);
	CHECK(pgr_tls_error(a)[0] != '\0');
	CHECK_EQ(pgr_tls_handshake(a), PGR_TLS_FAILED);
	pgr_tls_conn_free(a);

	/* plaintext pgraft (a node without TLS) */
	a = pgr_tls_conn_new(c1, false);
	CHECK(pgr_tls_feed(a, (const uint8_t *) "\x20\0\0\0\x03\x01\0\0PGRF", 12));
	CHECK_EQ(pgr_tls_handshake(a), PGR_TLS_FAILED);
	pgr_tls_conn_free(a);
	pgr_tls_ctx_free(c1);
}

static void
test_bad_files_are_refused_with_a_reason(void)
{
	char why[512];
	char cert[512];
	char key[512];
	char ca[512];
	char missing[512];
	struct pgr_tls_files f;

	CHECK(pki_ready());
	snprintf(cert, sizeof(cert), "%s/n1.crt", pki);
	snprintf(key, sizeof(key), "%s/n2.key", pki);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	snprintf(missing, sizeof(missing), "%s/missing.crt", pki);

	f.cert_file = cert;
	f.key_file = key; /* not n1's key */
	f.ca_file = ca;
	f.crl_file = NULL;
	CHECK(pgr_tls_ctx_new(&f, why, sizeof(why)) == NULL);
	CHECK(strstr(why, "must match the certificate") != NULL ||
		  strstr(why, "does not match") != NULL);

	f.cert_file = missing;
	CHECK(pgr_tls_ctx_new(&f, why, sizeof(why)) == NULL);
	CHECK(strstr(why, "missing.crt") != NULL);

	f.cert_file = cert;
	f.key_file = cert;
	CHECK(pgr_tls_ctx_new(&f, why, sizeof(why)) == NULL);
	CHECK(strstr(why, "private key") != NULL);

	f.ca_file = "";
	CHECK(pgr_tls_ctx_new(&f, why, sizeof(why)) == NULL);
	CHECK(strstr(why, "must all be set") != NULL);
}

static void
test_node_names_parse_strictly(void)
{
	uint64_t id = 0;
	const char *c = "prod";

#define PARSE(s) pgr_tls_parse_node_name((s), strlen(s), c, &id)
	CHECK_EQ(PARSE("pgraft-node-7.prod"), PGR_TLS_ID_OK);
	CHECK_EQ(id, 7);
	CHECK_EQ(PARSE("pgraft-node-18446744073709551615.prod"), PGR_TLS_ID_OK);
	CHECK_EQ(id, UINT64_MAX);
	CHECK_EQ(PARSE("pgraft-node-18446744073709551616.prod"), PGR_TLS_ID_NO_NAME);
	CHECK_EQ(PARSE("pgraft-node-07.prod"), PGR_TLS_ID_NO_NAME);
	CHECK_EQ(PARSE("pgraft-node-0.prod"), PGR_TLS_ID_NO_NAME);
	CHECK_EQ(PARSE("pgraft-node-7"), PGR_TLS_ID_NO_NAME);
	CHECK_EQ(PARSE("pgraft-node-7."), PGR_TLS_ID_NO_NAME);
	CHECK_EQ(PARSE("pgraft-node-.prod"), PGR_TLS_ID_NO_NAME);
	CHECK_EQ(PARSE("pgraft-node-7x.prod"), PGR_TLS_ID_NO_NAME);
	CHECK_EQ(PARSE("Pgraft-node-7.prod"), PGR_TLS_ID_NO_NAME);
	CHECK_EQ(PARSE("pgraft-node-7.prod2"), PGR_TLS_ID_OTHER_CLUSTER);
	CHECK_EQ(PARSE("pgraft-node-7.pro"), PGR_TLS_ID_OTHER_CLUSTER);
	/* an embedded NUL cannot shorten the name */
	CHECK_EQ(pgr_tls_parse_node_name("pgraft-node-7.prod\0x", 20, c, &id),
			 PGR_TLS_ID_OTHER_CLUSTER);
#undef PARSE
}

static const struct test_case cases[] = {
	TEST(test_two_nodes_handshake_and_exchange_data),
	TEST(test_a_certificate_of_another_ca_fails_the_handshake),
	TEST(test_garbage_fails_the_handshake_without_harm),
	TEST(test_bad_files_are_refused_with_a_reason),
	TEST(test_node_names_parse_strictly),
};

TEST_MAIN(cases)
