package main

import (
	"strings"
	"testing"
)

func TestReadLine(t *testing.T) {
	tests := []struct {
		in, want string
		err      string
	}{
		{"secret\n", "secret", ""},
		{"secret\r\nsecond line\n", "secret", ""},
		{"no newline", "no newline", ""},
		{"  spaces kept  \n", "  spaces kept  ", ""},
		{"", "", "empty"},
		{"\n", "", "empty"},
		{strings.Repeat("x", maxPassword) + "\n", strings.Repeat("x", maxPassword), ""},
		{strings.Repeat("x", maxPassword+1) + "\n", "", "longer than"},
		{strings.Repeat("x", 10*maxPassword), "", "longer than"},
	}
	for _, tt := range tests {
		got, err := readLine(lineReader(strings.NewReader(tt.in)))
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("readLine(%.20q) = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestPrintable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"laptop", "laptop"},
		{"ノート", "ノート"},
		{"evil\x1b]0;pwned\x07", "evil?]0;pwned?"},
		{"two\nlines\r\tand tab", "two lines  and tab"},
		{"bidi\u202eoverride", "bidi?override"},
	}
	for _, tt := range tests {
		if got := printable(tt.in); got != tt.want {
			t.Errorf("printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzReadLine(f *testing.F) {
	f.Add("secret\n")
	f.Add("a\r\nb")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := readLine(lineReader(strings.NewReader(in)))
		if err != nil {
			return
		}
		if got == "" || len(got) > maxPassword || strings.ContainsRune(got, '\n') || !strings.HasPrefix(in, got) {
			t.Fatalf("readLine(%q) = %q", in, got)
		}
	})
}
