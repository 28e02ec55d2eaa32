package attribution_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/attribution/memindex"
	"github.com/openroyalty/royalty/attribution/text"
)

func TestConfigValidate(t *testing.T) {
	if err := (attribution.Config{}).Validate(); err != nil {
		t.Fatalf("the default configuration: %v", err)
	}
	if err := attribution.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig(): %v", err)
	}
	if err := (attribution.Config{MaxGapWords: -1, MinContentWords: -1}).Validate(); err != nil {
		t.Fatalf("negative MaxGapWords and MinContentWords disable: %v", err)
	}
	tests := []struct {
		cfg         attribution.Config
		field, want string
	}{
		{attribution.Config{K: -1}, "K", "at least 1"},
		{attribution.Config{W: -2}, "W", "at least 1"},
		{attribution.Config{MaxAuthors: -1}, "MaxAuthors", "at least 1"},
		{attribution.Config{Candidates: -5}, "Candidates", "at least 1"},
		{attribution.Config{MaxResponseBytes: -1}, "MaxResponseBytes", "at least 1"},
		{attribution.Config{MinSpanWords: 4}, "MinSpanWords", "at least K (5)"},
		{attribution.Config{K: 9}, "MinSpanWords", "at least K (9)"}, // the default span of 8 is shorter
		{attribution.Config{ChunkWords: 7}, "ChunkWords", "at least W+K-1 (8)"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		var e *royalty.Error
		if !errors.As(err, &e) || e.Code != royalty.EINVALID || e.Field != tt.field || !strings.Contains(e.Message, tt.want) {
			t.Errorf("%+v.Validate() = %v, want EINVALID on %s containing %q", tt.cfg, err, tt.field, tt.want)
		}
	}
}

func TestConfigCheckIndex(t *testing.T) {
	idx := memindex.New()
	if err := (attribution.Config{}).CheckIndex(idx); err != nil {
		t.Fatalf("defaults against an index of the default parameters: %v", err)
	}
	if err := (attribution.Config{K: text.DefaultK, W: text.DefaultW}).CheckIndex(idx); err != nil {
		t.Fatalf("the defaults given explicitly: %v", err)
	}
	if err := (attribution.Config{K: 7, W: 3}).CheckIndex(memindex.NewWithParams(7, 3)); err != nil {
		t.Fatalf("the index's own parameters: %v", err)
	}
	for _, tt := range []struct {
		cfg   attribution.Config
		field string
	}{
		{attribution.Config{K: text.DefaultK + 1}, "K"},
		{attribution.Config{W: text.DefaultW + 1}, "W"},
	} {
		err := tt.cfg.CheckIndex(idx)
		var e *royalty.Error
		if !errors.As(err, &e) || e.Code != royalty.EINVALID || e.Field != tt.field || !strings.Contains(e.Message, "the index") {
			t.Errorf("%+v.CheckIndex = %v, want EINVALID on %s", tt.cfg, err, tt.field)
		}
	}
}
