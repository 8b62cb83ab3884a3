package cse_test

import (
	"testing"

	"github.com/kaasproject/kaas/events/cse"
)

func BenchmarkDecodeEntity(b *testing.B) {
	body := []byte(validBody)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cse.DecodeEntity(body); err != nil {
			b.Fatal(err)
		}
	}
}
