// What OpenSSL itself keeps per idle server connection, with nothing of
// usher around it: the floor under usher's memory per idle HTTPS
// connection (decision 0015).
//
// N connections over non-blocking socketpairs, each through a TLS 1.3 (or
// 1.2) handshake, one request and one response, then SSL_free_buffers() as
// usher's idle trim does. Every OpenSSL allocation goes through counting
// allocator functions (CRYPTO_set_mem_functions) and is tagged with the side
// (server or client) that made it and its file:line in OpenSSL, so the
// server's live bytes per connection can be listed by owner.
//
//   cc -O2 -o /tmp/tls_floor bench/tls_floor.c -lssl -lcrypto
//   /tmp/tls_floor --conns 1000 [--sni-switch] [--tickets N] [--tls12]
//                  [--chacha] [--keep-buffers] [--top 25]
//
// --chacha makes the client offer only ChaCha20-Poly1305 (as clients without
// AES instructions prefer it), to compare the cipher contexts' size.
//
// "bytes" are the sizes OpenSSL asked for; "malloc" adds glibc's chunk
// overhead (8 bytes of header, 16-byte rounding, 32 bytes minimum), which is
// what the heap really spends.

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kNone = 0, kServer = 1, kClient = 2, kTags = 3 };
enum { kMaxSites = 4096 };

struct Site {
  const char* file;
  int line;
  long long bytes[kTags];
  long long chunks[kTags];
  long long count[kTags];
};

static struct Site sites[kMaxSites];
static int site_count;
static int side = kNone;  // who is calling into OpenSSL now

struct Header {  // in front of every block: 32 bytes keep 16-byte alignment
  size_t size;
  int tag;
  int site;
  char pad[16];
};

static size_t chunk_size(size_t size) {
  size_t chunk = (size + 8 + 15) & ~(size_t)15;
  return chunk < 32 ? 32 : chunk;
}

static int site_of(const char* file, int line) {
  for (int i = 0; i < site_count; ++i)
    if (sites[i].line == line && (sites[i].file == file || (file && sites[i].file &&
                                                            strcmp(sites[i].file, file) == 0)))
      return i;
  if (site_count == kMaxSites) return kMaxSites - 1;
  sites[site_count].file = file;
  sites[site_count].line = line;
  return site_count++;
}

static void account(struct Header* h, int sign) {
  struct Site* s = &sites[h->site];
  s->bytes[h->tag] += sign * (long long)h->size;
  s->chunks[h->tag] += sign * (long long)chunk_size(h->size);
  s->count[h->tag] += sign;
}

static void* counted_malloc(size_t size, const char* file, int line) {
  struct Header* h = malloc(sizeof(struct Header) + size);
  if (h == NULL) return NULL;
  h->size = size;
  h->tag = side;
  h->site = site_of(file, line);
  account(h, +1);
  return h + 1;
}

static void counted_free(void* p, const char* file, int line) {
  (void)file;
  (void)line;
  if (p == NULL) return;
  struct Header* h = (struct Header*)p - 1;
  account(h, -1);
  free(h);
}

static void* counted_realloc(void* p, size_t size, const char* file, int line) {
  if (p == NULL) return counted_malloc(size, file, line);
  if (size == 0) {
    counted_free(p, file, line);
    return NULL;
  }
  void* fresh = counted_malloc(size, file, line);
  if (fresh == NULL) return NULL;
  struct Header* old = (struct Header*)p - 1;
  memcpy(fresh, p, old->size < size ? old->size : size);
  counted_free(p, file, line);
  return fresh;
}

static void totals(int tag, long long* bytes, long long* chunks, long long* count) {
  *bytes = *chunks = *count = 0;
  for (int i = 0; i < site_count; ++i) {
    *bytes += sites[i].bytes[tag];
    *chunks += sites[i].chunks[tag];
    *count += sites[i].count[tag];
  }
}

static void die(const char* what) {
  fprintf(stderr, "tls_floor: %s\n", what);
  ERR_print_errors_fp(stderr);
  exit(1);
}

// ---- certificate and contexts

static void make_certificate(EVP_PKEY** key, X509** cert) {
  *key = EVP_EC_gen("P-256");
  *cert = X509_new();
  if (*key == NULL || *cert == NULL) die("cannot make a key");
  X509_set_version(*cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(*cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(*cert), 86400);
  X509_NAME* name = X509_get_subject_name(*cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char*)"localhost", -1, -1,
                             0);
  X509_set_issuer_name(*cert, name);
  X509_set_pubkey(*cert, *key);
  if (X509_sign(*cert, *key, EVP_sha256()) == 0) die("cannot sign the certificate");
}

static int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                       const unsigned char* in, unsigned int inlen, void* arg) {
  (void)ssl;
  (void)arg;
  if (inlen < 1 || in[0] + 1u > inlen) return SSL_TLSEXT_ERR_NOACK;
  *out = in + 1;  // the client's first choice
  *outlen = in[0];
  return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX* site_context;  // the certificate's context under --sni-switch

static int switch_context(SSL* ssl, int* alert, void* arg) {
  (void)alert;
  (void)arg;
  SSL_set_SSL_CTX(ssl, site_context);
  return SSL_TLSEXT_ERR_OK;
}

// The same policy as proxy/tls_context.cpp.
static SSL_CTX* server_context(EVP_PKEY* key, X509* cert, int tickets, int tls12,
                               int keep_buffers) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
  SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384");
  SSL_CTX_set_num_tickets(ctx, (size_t)tickets);
  if (tickets == 0) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, (keep_buffers ? 0 : SSL_MODE_RELEASE_BUFFERS) | SSL_MODE_NO_AUTO_CHAIN);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(ctx, (const unsigned char*)"usher", 5);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
  if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
    die("cannot load the certificate");
  return ctx;
}

// ---- connections

struct Pair {
  SSL* server;
  SSL* client;
};

static int step(SSL* ssl, int who, int (*op)(SSL*)) {
  side = who;
  int r = op(ssl);
  side = kNone;
  if (r == 1) return 1;
  int e = SSL_get_error(ssl, r);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) die("handshake failed");
  return 0;
}

static void transfer(SSL* from, int from_side, SSL* to, int to_side, size_t size) {
  char buffer[4096];
  memset(buffer, 'x', size);
  size_t n = 0;
  side = from_side;
  if (SSL_write_ex(from, buffer, size, &n) != 1 || n != size) die("write failed");
  side = to_side;
  size_t got = 0;
  while (got < size) {
    if (SSL_read_ex(to, buffer, sizeof buffer, &n) == 1) {
      got += n;
    } else if (SSL_get_error(to, 0) != SSL_ERROR_WANT_READ) {
      die("read failed");
    }
  }
  side = kNone;
}

static struct Pair open_pair(SSL_CTX* server_ctx, SSL_CTX* client_ctx) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) die("socketpair failed");
  struct Pair p;
  side = kServer;
  p.server = SSL_new(server_ctx);
  SSL_set_fd(p.server, fds[0]);
  SSL_set_accept_state(p.server);
  side = kClient;
  p.client = SSL_new(client_ctx);
  SSL_set_fd(p.client, fds[1]);
  SSL_set_tlsext_host_name(p.client, "localhost");
  SSL_set_alpn_protos(p.client, (const unsigned char*)"\x08http/1.1", 9);
  SSL_set_connect_state(p.client);
  side = kNone;
  int server_done = 0, client_done = 0;
  for (int rounds = 0; !(server_done && client_done); ++rounds) {
    if (rounds > 100) die("handshake does not finish");
    if (!client_done) client_done = step(p.client, kClient, SSL_do_handshake);
    if (!server_done) server_done = step(p.server, kServer, SSL_do_handshake);
  }
  transfer(p.client, kClient, p.server, kServer, 100);   // a request
  transfer(p.server, kServer, p.client, kClient, 300);   // its response (and any ticket)
  side = kServer;
  SSL_free_buffers(p.server);  // usher's idle trim
  side = kNone;
  return p;
}

static int by_server_bytes(const void* a, const void* b) {
  long long x = ((const struct Site*)a)->chunks[kServer];
  long long y = ((const struct Site*)b)->chunks[kServer];
  return x < y ? 1 : x > y ? -1 : 0;
}

int main(int argc, char** argv) {
  int conns = 1000, tickets = 1, tls12 = 0, sni_switch = 0, keep_buffers = 0, top = 25;
  int chacha = 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--conns") && i + 1 < argc) conns = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--tickets") && i + 1 < argc) tickets = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--top") && i + 1 < argc) top = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--tls12")) tls12 = 1;
    else if (!strcmp(argv[i], "--sni-switch")) sni_switch = 1;
    else if (!strcmp(argv[i], "--keep-buffers")) keep_buffers = 1;
    else if (!strcmp(argv[i], "--chacha")) chacha = 1;
    else {
      fprintf(stderr, "usage: %s [--conns N] [--tickets N] [--tls12] [--sni-switch] "
                      "[--chacha] [--keep-buffers] [--top N]\n", argv[0]);
      return 64;
    }
  }
  if (!CRYPTO_set_mem_functions(counted_malloc, counted_realloc, counted_free))
    die("cannot install the counting allocator (something allocated first)");
  EVP_PKEY* key;
  X509* cert;
  make_certificate(&key, &cert);
  SSL_CTX* server_ctx = server_context(key, cert, tickets, tls12, keep_buffers);
  if (sni_switch) {
    site_context = server_context(key, cert, tickets, tls12, keep_buffers);
    SSL_CTX_set_tlsext_servername_callback(server_ctx, switch_context);
  }
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
  if (chacha) {
    SSL_CTX_set_ciphersuites(client_ctx, "TLS_CHACHA20_POLY1305_SHA256");
    SSL_CTX_set_cipher_list(client_ctx, "ECDHE-ECDSA-CHACHA20-POLY1305");
  }
  // Warm up lazily built provider state (algorithm caches) before counting.
  struct Pair warm = open_pair(server_ctx, client_ctx);
  SSL_free(warm.server);
  SSL_free(warm.client);

  long long base_bytes, base_chunks, base_count;
  totals(kServer, &base_bytes, &base_chunks, &base_count);
  static struct Site before[kMaxSites];
  memcpy(before, sites, sizeof sites);
  struct Pair* pairs = calloc((size_t)conns, sizeof *pairs);
  for (int i = 0; i < conns; ++i)
    pairs[i] = open_pair(server_ctx, client_ctx);
  long long bytes, chunks, count;
  totals(kServer, &bytes, &chunks, &count);

  printf("%d idle TLS %s connections, tickets %d%s%s%s: server side keeps per connection "
         "%.0f bytes in %.1f allocations, %.0f bytes with malloc overhead\n",
         conns, tls12 ? "1.2" : "1.3", tickets, sni_switch ? ", SNI switch" : "",
         chacha ? ", ChaCha20-Poly1305" : "",
         keep_buffers ? ", buffers kept" : "", (double)(bytes - base_bytes) / conns,
         (double)(count - base_count) / conns, (double)(chunks - base_chunks) / conns);
  for (int i = 0; i < site_count; ++i)
    for (int t = 0; t < kTags; ++t) {
      sites[i].bytes[t] -= before[i].bytes[t];
      sites[i].chunks[t] -= before[i].chunks[t];
      sites[i].count[t] -= before[i].count[t];
    }
  qsort(sites, (size_t)site_count, sizeof sites[0], by_server_bytes);
  printf("%10s %8s  %s\n", "malloc B", "allocs", "allocated at (per connection)");
  for (int i = 0; i < site_count && i < top; ++i) {
    if (sites[i].chunks[kServer] == 0) break;
    printf("%10.1f %8.2f  %s:%d\n", (double)sites[i].chunks[kServer] / conns,
           (double)sites[i].count[kServer] / conns, sites[i].file ? sites[i].file : "?",
           sites[i].line);
  }
  for (int i = 0; i < conns; ++i) {
    SSL_free(pairs[i].server);
    SSL_free(pairs[i].client);
  }
  return 0;
}
