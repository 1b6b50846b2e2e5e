package i18n

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/language"
)

// keyPattern is the shape of a message key: lower-case words joined by dots.
var keyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// TestKeysInGoCodeExist reads the module's Go code (tests aside) for message
// keys written out: the first argument of calls of T and Text, and Key fields
// of composite literals (internal/identity's refusals). Every one must be in
// the catalogue, and a T or Text call whose argument names are all written out
// must give exactly the arguments its message uses; so a typo in a key or an
// argument fails here, not in front of a person.
func TestKeysInGoCodeExist(t *testing.T) {
	c := builtin(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found from %s: %v", root, err)
	}
	fset := token.NewFileSet()
	var found int
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "T" && sel.Sel.Name != "Text") || len(n.Args) == 0 {
					return true
				}
				key, ok := stringLit(n.Args[0])
				if !ok || !keyPattern.MatchString(key) {
					return true
				}
				found++
				pos := fset.Position(n.Pos())
				if !c.Has(key) {
					t.Errorf("%s: message %q is in no catalogue", pos, key)
					return true
				}
				if names, ok := literalNames(n.Args[1:]); ok {
					want, _ := messageFields(c.msgs[language.English][key])
					if !slices.Equal(names, want) {
						t.Errorf("%s: %q given %s, its message uses %s", pos, key, fieldList(names), fieldList(want))
					}
				}
			case *ast.KeyValueExpr:
				id, ok := n.Key.(*ast.Ident)
				if !ok || id.Name != "Key" {
					return true
				}
				if key, ok := stringLit(n.Value); ok && keyPattern.MatchString(key) {
					found++
					if !c.Has(key) {
						t.Errorf("%s: message %q is in no catalogue", fset.Position(n.Pos()), key)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("found no message keys in the code: the scan is broken")
	}
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// literalNames returns the sorted argument names of name, value pairs when
// every name is a string literal.
func literalNames(args []ast.Expr) ([]string, bool) {
	if len(args)%2 != 0 {
		return nil, false
	}
	var names []string
	for i := 0; i < len(args); i += 2 {
		s, ok := stringLit(args[i])
		if !ok {
			return nil, false
		}
		names = append(names, s)
	}
	sort.Strings(names)
	return names, true
}
