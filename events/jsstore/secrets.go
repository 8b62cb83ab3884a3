package jsstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kaasproject/kaas/events/store"
)

// SecretsBucket is the key value bucket that holds sealed secrets.
const SecretsBucket = "KAAS_SECRETS"

// ErrNoSecret is store.ErrNoSecret.
var ErrNoSecret = store.ErrNoSecret

// Secrets keeps kubeconfigs and join commands out of events, logs and metrics. Values are
// sealed with AES-GCM, the reference bound in as additional data so that a sealed value
// cannot be moved to another reference. The first key seals; every key opens (GCM tells a
// wrong key by the failed authentication), so that keys rotate without resealing.
type Secrets struct {
	kv    jetstream.KeyValue
	aeads []cipher.AEAD // aeads[0] seals
}

func newSecrets(ctx context.Context, js jetstream.JetStream, cfg Config) (*Secrets, error) {
	var aeads []cipher.AEAD
	for i, key := range append([][]byte{cfg.SecretsKey}, cfg.OldSecretsKeys...) {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("secrets key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets key %d: %w", i+1, err)
		}
		aeads = append(aeads, aead)
	}
	kv, err := declareBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket:      SecretsBucket,
		Description: "kaas secrets (kubeconfigs, join commands), sealed with AES-GCM",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("declare secrets bucket: %w", err)
	}
	return &Secrets{kv: kv, aeads: aeads}, nil
}

// Put seals and stores a secret under ref, replacing any earlier value.
func (s *Secrets) Put(ctx context.Context, ref string, value []byte) error {
	seal := s.aeads[0]
	nonce := make([]byte, seal.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := seal.Seal(nonce, nonce, value, []byte(ref))
	if _, err := s.kv.Put(ctx, ref, sealed); err != nil {
		return fmt.Errorf("store secret %s: %w", ref, err)
	}
	return nil
}

// Get returns the secret stored under ref.
func (s *Secrets) Get(ctx context.Context, ref string) ([]byte, error) {
	e, err := s.kv.Get(ctx, ref)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNoSecret, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", ref, err)
	}
	sealed := e.Value()
	n := s.aeads[0].NonceSize() // GCM's standard nonce, whatever the key
	if len(sealed) < n {
		return nil, fmt.Errorf("secret %s is corrupt", ref)
	}
	for _, aead := range s.aeads {
		if v, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(ref)); err == nil {
			return v, nil
		}
	}
	return nil, fmt.Errorf("secret %s cannot be opened with any of the %d secrets keys this instance has: "+
		"it was sealed with another key (give every instance the same key file, and keep a rotated-out key until "+
		"nothing sealed with it is left)", ref, len(s.aeads))
}

// Delete removes a secret; deleting one that does not exist is not an error.
func (s *Secrets) Delete(ctx context.Context, ref string) error {
	if err := s.kv.Purge(ctx, ref); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete secret %s: %w", ref, err)
	}
	return nil
}
