package main

import (
	"fmt"
	"log/slog"
	"os"

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
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the checkpoint signing key file can be read by other users; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	return journal.NewSigner(priv), nil
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
	if err := os.WriteFile(path, pemKey, 0o600); err != nil {
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
	s := ps.Sealer(signer, journalpg.SealerConfig{Interval: cfg.SealInterval})
	s.Start()
	log.Info("sealing the journal", "key_id", signer.KeyID(), "interval", cfg.SealInterval)
	return s
}
