package kaasd

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The key file: made on first start in the data dir, read as 32 raw bytes or as base64
// keys one per line (the first seals, the rest open), refused with what is wrong.
func TestSecretsKeys(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name      string
		file      *string // nil: no file
		seal      []byte
		old       int
		wantErr   string
		explicit  bool // KAAS_SECRETS_KEY_FILE names it
		madeFresh bool
	}{
		{name: "made on first start", madeFresh: true},
		{name: "named but missing", explicit: true, wantErr: "no such file"},
		{name: "raw", file: ptr(string(k1)), seal: k1},
		{name: "one base64 key", file: ptr(b64(k1) + "\n"), seal: k1},
		{name: "rotated", file: ptr("# new key first\n" + b64(k2) + "\n\n" + b64(k1) + "\n"), seal: k2, old: 1, explicit: true},
		{name: "not base64", file: ptr(b64(k1) + "\nsecret\n"), wantErr: "line 2 is not a base64 32-byte key"},
		{name: "short key", file: ptr(b64(k1[:16]) + "\n"), wantErr: "line 1 is not a base64 32-byte key"},
		{name: "empty", file: ptr("# nothing\n"), wantErr: "no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{DataDir: t.TempDir()}
			path := filepath.Join(cfg.DataDir, "secrets.key")
			if tt.explicit {
				path = filepath.Join(t.TempDir(), "kaas.keys")
				cfg.SecretsKeyFile = path
			}
			if tt.file != nil {
				if err := os.WriteFile(path, []byte(*tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			seal, old, err := secretsKeys(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.madeFresh {
				made, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(made, seal) || len(seal) != 32 {
					t.Fatalf("made %x, sealing with %x: %v", made, seal, err)
				}
				again, _, err := secretsKeys(cfg)
				if err != nil || !bytes.Equal(again, seal) {
					t.Fatalf("second start seals with %x, not the key it made: %v", again, err)
				}
				return
			}
			if !bytes.Equal(seal, tt.seal) || len(old) != tt.old {
				t.Fatalf("seal %x with %d old keys, want %x with %d", seal, len(old), tt.seal, tt.old)
			}
		})
	}
}

func ptr(s string) *string { return &s }
