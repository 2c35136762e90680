package main

import (
	"os"
	"strings"
	"testing"
)

// The README's "Use it in your service" shows this program whole: keep the
// two the same, so that what readers paste compiles.
func TestREADMEShowsThisProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	program, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	// The README leaves out the command's doc comment.
	body := string(program[strings.Index(string(program), "package main"):])
	if !strings.Contains(string(readme), "```go\n"+body+"```\n") {
		t.Error("README.md does not show examples/embed/main.go (from its package clause on) in a go code block; copy it over")
	}
}
