package main

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerSignerFirstStart: without --signing-key-file, serve creates the data directory's key
// (0600) on first start and logs its public key and path, uses the same key on the next start,
// and refuses a key file that other users can read.
func TestServerSignerFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var logs bytes.Buffer
	cfg := &config{DataDir: dir}
	s, err := serverSigner(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, defaultSigningKey)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	pub := base64.StdEncoding.EncodeToString(s.PublicKey())
	if !strings.Contains(logs.String(), "created a journal signing key") || !strings.Contains(logs.String(), pub) || !strings.Contains(logs.String(), path) {
		t.Fatalf("the log does not name the new key and its file:\n%s", logs.String())
	}
	again, err := serverSigner(cfg, slog.New(slog.DiscardHandler))
	if err != nil || !again.PublicKey().Equal(s.PublicKey()) {
		t.Fatalf("second start: %v, same key %v", err, err == nil && again.PublicKey().Equal(s.PublicKey()))
	}
	for _, c := range []*config{cfg, {SigningKeyFile: path}} {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := serverSigner(c, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("a world-readable key (%+v) was accepted: %v", c, err)
		}
	}
}
