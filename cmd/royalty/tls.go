package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// Transport security. serve speaks TLS with --tls-cert/--tls-key, reloading them when the files
// change (a renewed certificate needs no restart); without them it serves plaintext only on a
// loopback address, or anywhere with an explicit --plaintext (e.g. behind a TLS-terminating
// proxy). Client commands speak TLS and trust the system's roots, or --tls-ca; they speak
// plaintext to a loopback target (where a server without TLS listens) or with --plaintext,
// which is refused for other targets. API keys come from ROYALTY_API_KEY, --api-key-file or
// --api-key, which ps shows to every user of the machine.

// serverTLS is serve's transport security.
type serverTLS struct {
	CertFile, KeyFile string
	Plaintext         bool
}

func addServerTLSFlags(fs *pflag.FlagSet, s *serverTLS) {
	fs.StringVar(&s.CertFile, "tls-cert", "", "TLS certificate chain (PEM) to serve gRPC with, reloaded when it changes; with --tls-key")
	fs.StringVar(&s.KeyFile, "tls-key", "", "TLS private key (PEM) of --tls-cert")
	fs.BoolVar(&s.Plaintext, "plaintext", false, "serve gRPC without TLS on a non-loopback --grpc-addr (without TLS, only loopback addresses are served otherwise)")
}

// config is the server's TLS configuration for listening on addr; nil for plaintext.
func (s serverTLS) config(addr string, log *slog.Logger) (*tls.Config, error) {
	switch {
	case s.CertFile != "" && s.KeyFile != "":
		r := &certReloader{certFile: s.CertFile, keyFile: s.KeyFile, log: log}
		if _, err := r.GetCertificate(nil); err != nil {
			return nil, err
		}
		return &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12}, nil
	case s.CertFile != "" || s.KeyFile != "":
		return nil, errors.New("--tls-cert and --tls-key go together")
	case s.Plaintext || isLoopback(addr):
		return nil, nil
	}
	return nil, fmt.Errorf("--grpc-addr %s is not a loopback address: give --tls-cert and --tls-key, or --plaintext to serve it without TLS", addr)
}

// certReloader serves the certificate in its files, read again when either file's modification
// time or size changes. A change that does not load (a half-written renewal) keeps the previous
// certificate and is logged.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu    sync.Mutex
	cert  *tls.Certificate
	stamp string
}

func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	stamp, err := fileStamp(r.certFile, r.keyFile)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && stamp == r.stamp {
		return r.cert, nil
	}
	cert, lerr := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	switch {
	case err == nil && lerr == nil:
		if r.cert != nil {
			r.log.Info("reloaded the TLS certificate", "file", r.certFile)
		}
		r.cert, r.stamp = &cert, stamp
	case r.cert == nil:
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", errors.Join(err, lerr))
	default:
		r.log.Warn("the TLS certificate files changed but do not load; still serving the previous certificate", "err", errors.Join(err, lerr))
	}
	return r.cert, nil
}

func fileStamp(paths ...string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d/%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return b.String(), nil
}

// isLoopback reports whether a host:port address names only the local machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// clientOptions are a client command's connection to a server.
type clientOptions struct {
	CA         string
	Plaintext  bool
	APIKey     string
	APIKeyFile string
}

func addClientFlags(fs *pflag.FlagSet, c *clientOptions) {
	fs.StringVar(&c.CA, "tls-ca", "", "CA certificates (PEM) to trust for the server's certificate instead of the system's")
	fs.BoolVar(&c.Plaintext, "plaintext", false, "connect without TLS (only to a loopback address, which is the default there)")
	fs.StringVar(&c.APIKeyFile, "api-key-file", "", "file holding the API key")
	fs.StringVar(&c.APIKey, "api-key", "", "API key; visible to every user of the machine in ps: prefer ROYALTY_API_KEY or --api-key-file")
}

// dial connects to the server at target.
func (c clientOptions) dial(target string) (*grpc.ClientConn, error) {
	var creds credentials.TransportCredentials
	switch {
	case c.Plaintext && c.CA != "":
		return nil, errors.New("--plaintext and --tls-ca exclude each other")
	case c.Plaintext && !isLoopback(target):
		return nil, fmt.Errorf("--plaintext is only for loopback addresses, not %s: the API key would cross the network in clear", target)
	case c.CA != "":
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificates", c.CA)
		}
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	case c.Plaintext || isLoopback(target):
		creds = insecure.NewCredentials()
	default:
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}) // the system's roots
	}
	return grpc.NewClient(target, grpc.WithTransportCredentials(creds))
}

// withKey adds the API key, if one is given, to ctx's outgoing metadata.
func (c clientOptions) withKey(ctx context.Context) (context.Context, error) {
	key := c.APIKey
	if c.APIKeyFile != "" {
		b, err := os.ReadFile(c.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--api-key-file: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		return ctx, nil
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key), nil
}
