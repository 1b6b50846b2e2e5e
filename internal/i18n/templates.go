package i18n

import (
	"fmt"
	htmltemplate "html/template"
	"sort"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

// TemplateKeys returns the message keys t and the templates associated with it
// name literally, sorted and unique: the first argument of every call of a
// method or function named T or Parts ({{.T "signin.title"}}, {{$.T
// "scope.email"}}, {{T "x"}}, {{.Parts "signin.continue_to" "App"}}) that is a
// string constant. Keys computed at run time are not seen.
func TemplateKeys(t *htmltemplate.Template) []string {
	var trees []*parse.Tree
	for _, tt := range t.Templates() {
		trees = append(trees, tt.Tree)
	}
	return treeKeys(trees)
}

// TextTemplateKeys is TemplateKeys for a text/template (the plain-text mail).
func TextTemplateKeys(t *texttemplate.Template) []string {
	var trees []*parse.Tree
	for _, tt := range t.Templates() {
		trees = append(trees, tt.Tree)
	}
	return treeKeys(trees)
}

func treeKeys(trees []*parse.Tree) []string {
	seen := map[string]bool{}
	for _, tr := range trees {
		if tr != nil {
			templateKeys(tr.Root, seen)
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckTemplate returns an error naming every key t uses (see TemplateKeys)
// that the catalogue lacks, so that a page that would fail to render is found
// at start-up; the caller names the template.
func (c *Catalogue) CheckTemplate(t *htmltemplate.Template) error {
	return c.checkKeys(TemplateKeys(t))
}

// CheckTextTemplate is CheckTemplate for a text/template.
func (c *Catalogue) CheckTextTemplate(t *texttemplate.Template) error {
	return c.checkKeys(TextTemplateKeys(t))
}

func (c *Catalogue) checkKeys(keys []string) error {
	var missing []string
	for _, k := range keys {
		if !c.Has(k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("uses messages that no catalogue has: %s", strings.Join(missing, ", "))
	}
	return nil
}

// templateKeys adds the key of every {{.T "key" …}} (or Parts) call under n.
func templateKeys(n parse.Node, seen map[string]bool) {
	walk(n, func(n parse.Node) {
		c, ok := n.(*parse.CommandNode)
		if !ok || len(c.Args) < 2 || !isT(c.Args[0]) {
			return
		}
		if s, ok := c.Args[1].(*parse.StringNode); ok {
			seen[s.Text] = true
		}
	})
}

// walk calls visit for n and every node under it: actions, pipelines,
// commands and their arguments, chains, {{template}} calls and the branches
// of if, range and with.
func walk(n parse.Node, visit func(parse.Node)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walk(c, visit)
			}
		}
		return
	case *parse.PipeNode:
		if n == nil {
			return
		}
	}
	visit(n)
	switch n := n.(type) {
	case *parse.ActionNode:
		walk(n.Pipe, visit)
	case *parse.TemplateNode:
		walk(n.Pipe, visit)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			walk(c, visit)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walk(a, visit)
		}
	case *parse.ChainNode:
		walk(n.Node, visit)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, visit)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, visit)
	}
}

func walkBranch(b *parse.BranchNode, visit func(parse.Node)) {
	walk(b.Pipe, visit)
	walk(b.List, visit)
	walk(b.ElseList, visit)
}

// isT reports whether a command's first word calls T or Parts: .T, $.T,
// .Layout.T, $x.T, .Parts or a function T.
func isT(n parse.Node) bool {
	translates := func(name string) bool { return name == "T" || name == "Parts" }
	switch n := n.(type) {
	case *parse.FieldNode:
		return translates(n.Ident[len(n.Ident)-1])
	case *parse.VariableNode:
		return len(n.Ident) > 1 && translates(n.Ident[len(n.Ident)-1])
	case *parse.IdentifierNode:
		return translates(n.Ident)
	}
	return false
}
