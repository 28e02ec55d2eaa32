package journal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Checkpoint is a signed statement that the journal's first Size transactions hash to Root,
// made at Time.
type Checkpoint struct {
	Size uint64
	Root Hash
	// Time has microsecond precision.
	Time time.Time
	// KeyID names the signing key (KeyID of its public key).
	KeyID string
	// Signature is the Ed25519 signature of Text().
	Signature []byte
}

// Text returns the bytes a checkpoint's signature covers, four lines each ended by a line feed:
//
//	royalty-journal-v1 checkpoint
//	size <Size in decimal>
//	root <Root in lower-case hex>
//	time <Time in the canonical time format>
func (c Checkpoint) Text() ([]byte, error) {
	at, err := FormatTime(c.Time)
	if err != nil {
		return nil, fmt.Errorf("checkpoint time: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(Format + " checkpoint\n")
	b.WriteString("size " + strconv.FormatUint(c.Size, 10) + "\n")
	b.WriteString("root " + c.Root.String() + "\n")
	b.WriteString("time " + at + "\n")
	return b.Bytes(), nil
}

// SignatureString returns the signature in standard base64, as exports and the API carry it.
func (c Checkpoint) SignatureString() string { return base64.StdEncoding.EncodeToString(c.Signature) }

// ErrSignature is returned (wrapped) for a checkpoint whose signature does not verify.
var ErrSignature = errors.New("bad checkpoint signature")

// Verify checks the checkpoint's signature with the key named by its KeyID among keys.
func (c Checkpoint) Verify(keys Keys) error {
	pub, ok := keys[c.KeyID]
	if !ok {
		return fmt.Errorf("%w: signed by key %q, which is not among the trusted keys (%s)", ErrSignature, c.KeyID, keys)
	}
	text, err := c.Text()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, text, c.Signature) {
		return fmt.Errorf("%w: the signature of checkpoint %d does not verify with key %s", ErrSignature, c.Size, c.KeyID)
	}
	return nil
}

// KeyID returns the id of a public key: the first 16 hex digits of the SHA-256 of its 32 bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Keys are trusted public keys by key id.
type Keys map[string]ed25519.PublicKey

// NewKeys returns the trusted key set of the given public keys.
func NewKeys(pubs ...ed25519.PublicKey) Keys {
	k := Keys{}
	for _, p := range pubs {
		k[KeyID(p)] = p
	}
	return k
}

// String lists the key ids.
func (k Keys) String() string {
	ids := make([]string, 0, len(k))
	for id := range k {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// Signer signs checkpoints with one Ed25519 key. It is safe for concurrent use.
type Signer struct {
	priv  ed25519.PrivateKey
	pub   ed25519.PublicKey
	keyID string
}

// NewSigner returns a signer for the private key.
func NewSigner(priv ed25519.PrivateKey) *Signer {
	pub := priv.Public().(ed25519.PublicKey)
	return &Signer{priv: priv, pub: pub, keyID: KeyID(pub)}
}

// PublicKey returns the key that verifies the signer's checkpoints.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pub }

// KeyID returns the id of the signer's public key.
func (s *Signer) KeyID() string { return s.keyID }

// Sign returns the signed checkpoint of a tree of size leaves with root at time at (truncated to
// the microsecond).
func (s *Signer) Sign(size uint64, root Hash, at time.Time) (Checkpoint, error) {
	c := Checkpoint{Size: size, Root: root, Time: at.UTC().Truncate(time.Microsecond), KeyID: s.keyID}
	text, err := c.Text()
	if err != nil {
		return Checkpoint{}, err
	}
	c.Signature = ed25519.Sign(s.priv, text)
	return c, nil
}

// GenerateKey returns a new private key from rand (crypto/rand.Reader when nil).
func GenerateKey(rand io.Reader) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand)
	return priv, err
}

// MarshalPrivateKey encodes a private key as a PEM "PRIVATE KEY" block (PKCS #8), the format
// of `openssl genpkey -algorithm ed25519`.
func MarshalPrivateKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKey reads a private key from a PEM "PRIVATE KEY" block holding an Ed25519 key
// (PKCS #8, as `openssl genpkey -algorithm ed25519` writes), or from the standard base64 of a
// 32-byte seed or a 64-byte Ed25519 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("want a PEM \"PRIVATE KEY\" block (PKCS #8), got %q", block.Type)
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing the private key: %w", err)
		}
		priv, ok := key.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("want an Ed25519 key, got %T", key)
		}
		return priv, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, errors.New("want a PEM \"PRIVATE KEY\" block or the base64 of an Ed25519 seed")
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.PrivateKey(raw)
		// The second half is the public key: check it so that a corrupted key fails here and not
		// in every verifier.
		if !bytes.Equal(ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]), priv) {
			return nil, errors.New("the private key's public half does not match its seed")
		}
		return priv, nil
	}
	return nil, fmt.Errorf("an Ed25519 key in base64 is 32 or 64 bytes, got %d", len(raw))
}

// EncodePublicKey returns a public key as the standard base64 of its 32 bytes, the form
// GetPublicKey returns and `royalty verify --pubkey` takes.
func EncodePublicKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// ParsePublicKey reads a public key from the standard base64 of its 32 bytes or from a PEM
// "PUBLIC KEY" block (PKIX, as `openssl pkey -pubout` writes).
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing the public key: %w", err)
		}
		pub, ok := key.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("want an Ed25519 key, got %T", key)
		}
		return pub, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, errors.New("want the base64 of a 32-byte Ed25519 public key or a PEM \"PUBLIC KEY\" block")
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("an Ed25519 public key is %d bytes, got %d", ed25519.PublicKeySize, len(raw))
	}
	return ed25519.PublicKey(raw), nil
}
