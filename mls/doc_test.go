package mls

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestPackageDoc fails if the package loses its doc comment or the
// sections that document the wire format and its checks.
func TestPackageDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	must(t, err)
	doc := f.Doc.Text()
	for _, want := range []string{"RFC 9420", "# Wire format", "# Checks", "0x004D", "NOT supported"} {
		if !strings.Contains(doc, want) {
			t.Errorf("package doc lacks %q", want)
		}
	}
}
