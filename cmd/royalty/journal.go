package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
)

// loadSigner reads the checkpoint signing key: a PEM PKCS #8 Ed25519 key (`openssl genpkey
// -algorithm ed25519`) or the base64 of a 32-byte seed.
func loadSigner(path string, log *slog.Logger) (*journal.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--signing-key-file: %w", err)
	}
	priv, err := journal.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("--signing-key-file %s: %w", path, err)
	}
	return journal.NewSigner(priv), nil
}

// defaultSigningKey is the signing key's file in the data directory when --signing-key-file is
// not given.
const defaultSigningKey = "signing-key.pem"

// serverSigner is serve's checkpoint signer: --signing-key-file, or else the data directory's
// key, created (mode 0600) on first start, so that a server never runs without sealing. A key
// file that other users may read or write is refused.
func serverSigner(cfg *config, log *slog.Logger) (*journal.Signer, error) {
	path := cfg.SigningKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, defaultSigningKey)
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				return nil, fmt.Errorf("--data-dir: %w", err)
			}
			s, err := writeSigningKey(path)
			if err != nil {
				return nil, fmt.Errorf("creating the journal signing key: %w", err)
			}
			log.Info("created a journal signing key; back it up, and give its public key to whoever verifies exports",
				"file", path, "public_key", base64.StdEncoding.EncodeToString(s.PublicKey()), "key_id", s.KeyID())
			return s, nil
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--signing-key-file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("the journal signing key %s has mode %s: other users may read it; chmod 600 it", path, perm)
	}
	s, err := loadSigner(path, log)
	if err != nil {
		return nil, err
	}
	log.Info("journal signing key", "file", path, "public_key", base64.StdEncoding.EncodeToString(s.PublicKey()), "key_id", s.KeyID())
	return s, nil
}

// writeSigningKey writes a new signing key to path (mode 0600) and returns its signer.
func writeSigningKey(path string) (*journal.Signer, error) {
	priv, err := journal.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	pemKey, err := journal.MarshalPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	// O_EXCL: never overwrite a key, whose checkpoints would then no longer verify.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(pemKey); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return journal.NewSigner(priv), nil
}

// startSealer starts the background sealer of a server that has a signing key. Without one the
// server seals nothing: exports then list every transaction as not sealed, and GetPublicKey and
// VerifyJournal answer FAILED_PRECONDITION.
func startSealer(cfg *config, signer *journal.Signer, ps *wire.Parts, log *slog.Logger) *journalpg.Sealer {
	if signer == nil {
		log.Warn("journal sealing is off: no --signing-key-file (ROYALTY_SIGNING_KEY_FILE); exports will not be verifiable")
		return nil
	}
	s := ps.Sealer(signer, journalpg.SealerConfig{Interval: cfg.SealInterval, Lease: journalpg.Lease{TTL: cfg.SealLease}})
	s.Start()
	log.Info("sealing the journal", "key_id", signer.KeyID(), "interval", cfg.SealInterval, "lease", cfg.SealLease, "holder", s.Holder())
	return s
}
