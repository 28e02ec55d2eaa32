package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/openroyalty/royalty/services"
)

// testCA is a throwaway certificate authority for TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "royalty test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate for 127.0.0.1 with serial to certFile and its key to keyFile.
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "royalty"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTLSServeAndReload: a server with --tls-cert/--tls-key answers a client that trusts
// --tls-ca, serves a renewed certificate without a restart, and plaintext is refused where it
// would cross the network.
func TestTLSServeAndReload(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	ca.issue(t, 100, certFile, keyFile)
	if err := os.WriteFile(caFile, ca.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := serverTLS{CertFile: certFile, KeyFile: keyFile}.config("0.0.0.0:7070", slog.New(slog.DiscardHandler))
	if err != nil || tlsConfig == nil {
		t.Fatalf("TLS config: %v, %v", tlsConfig, err)
	}
	// As serve does: TLS ended before the split, gRPC on gRPC's transport, the rest on the HTTP
	// server, whose handler must see the connection's TLS.
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	var httpCalls atomic.Int32
	api := services.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpCalls.Add(1)
		if r.TLS == nil || !r.TLS.HandshakeComplete {
			http.Error(w, "no TLS state", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s over TLS", r.Proto)
	}), services.HTTPOptions{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	split := splitAPI(lis, tlsConfig)
	go srv.Serve(split.GRPC())
	defer srv.Stop()
	go api.Serve(split.Other())
	defer api.Close()

	serial := func() int64 {
		t.Helper()
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca.pem)
		c, err := tls.Dial("tcp", lis.Addr().String(), &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	conn, err := clientOptions{CA: caFile}.dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health over TLS: %v", err)
	}
	if n := httpCalls.Load(); n != 0 {
		t.Fatalf("a gRPC call over TLS reached the HTTP server (%d requests), not gRPC's transport", n)
	}
	// HTTPS over HTTP/1.1 and over HTTP/2 (ALPN) reaches the HTTP server with its TLS state.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: proto == "HTTP/2.0"}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + lis.Addr().String() + "/")
		if err != nil {
			t.Fatalf("%s over TLS: %v", proto, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.StatusCode != http.StatusOK || string(body) != proto+" over TLS" {
			t.Fatalf("%s over TLS: %s %q", proto, resp.Status, body)
		}
	}
	if got := serial(); got != 100 {
		t.Fatalf("serial = %d, want 100", got)
	}
	// A renewal: the files are rewritten; the next handshake serves the new certificate.
	time.Sleep(10 * time.Millisecond)
	ca.issue(t, 101, certFile, keyFile)
	if got := serial(); got != 101 {
		t.Fatalf("after renewal serial = %d, want 101", got)
	}
	// Plaintext: by default only on loopback, and never to a remote target.
	if _, err := (serverTLS{}).config("0.0.0.0:7070", nil); err == nil {
		t.Error("serve without TLS on 0.0.0.0 was accepted")
	}
	for _, addr := range []string{"127.0.0.1:7070", "[::1]:7070", "localhost:7070"} {
		if c, err := (serverTLS{}).config(addr, nil); err != nil || c != nil {
			t.Errorf("serve without TLS on %s: %v, %v", addr, c, err)
		}
	}
	if c, err := (serverTLS{Plaintext: true}).config(":7070", nil); err != nil || c != nil {
		t.Errorf("--plaintext on :7070: %v, %v", c, err)
	}
	if _, err := (clientOptions{Plaintext: true}).dial("royalty.example:7070"); err == nil {
		t.Error("--plaintext to a remote target was accepted")
	}
}

// TestAPIKeyFile: the key comes from --api-key-file, trimmed, and wins over --api-key.
func TestAPIKeyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("rty_fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, err := clientOptions{APIKey: "rty_flag", APIKeyFile: file}.withKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer rty_fromfile" {
		t.Fatalf("authorization = %q", got)
	}
	if _, err := (clientOptions{APIKeyFile: file + ".missing"}).withKey(context.Background()); err == nil {
		t.Error("a missing key file was accepted")
	}
}
