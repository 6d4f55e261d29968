package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSecurityDocNamesRealTests keeps docs/SECURITY.md honest: every test
// function, attack script, command script and vector it names exists, and
// every attack script is named in it.
func TestSecurityDocNamesRealTests(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "SECURITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz)\w+)\(`)
	err = filepath.WalkDir(filepath.Join("..", ".."), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllSubmatch(b, -1) {
			funcs[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, m := range regexp.MustCompile("`((?:Test|Fuzz)\\w+)`").FindAllStringSubmatch(text, -1) {
		if !funcs[m[1]] {
			t.Errorf("SECURITY.md names %s, which is no test", m[1])
		}
	}
	exists := func(pattern string) bool {
		got, _ := filepath.Glob(pattern)
		return len(got) > 0
	}
	for _, m := range regexp.MustCompile("attack `(\\w+)`").FindAllStringSubmatch(text, -1) {
		if !exists(filepath.Join("testdata", "attack", m[1]+".txtar")) {
			t.Errorf("SECURITY.md names attack %s, which has no script", m[1])
		}
	}
	for _, m := range regexp.MustCompile("script `(\\w+)`").FindAllStringSubmatch(text, -1) {
		if !exists(filepath.Join("testdata", "script", m[1]+".txtar")) {
			t.Errorf("SECURITY.md names script %s, which does not exist", m[1])
		}
	}
	for _, m := range regexp.MustCompile("`((?:authorization|confirmation|request|return|system|usage|trust)-[\\w*-]+)`").FindAllStringSubmatch(text, -1) {
		if !exists(filepath.Join("..", "..", "testvectors", "cases", m[1]+".json")) {
			t.Errorf("SECURITY.md names vector %s, which does not exist", m[1])
		}
	}
	attacks, _ := filepath.Glob(filepath.Join("testdata", "attack", "*.txtar"))
	for _, a := range attacks {
		name := strings.TrimSuffix(filepath.Base(a), ".txtar")
		if !strings.Contains(text, "attack `"+name+"`") {
			t.Errorf("attack script %s is not in SECURITY.md's table", name)
		}
	}
}
