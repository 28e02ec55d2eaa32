package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The parsers read only the part of a page that the profile's owner alone writes: the rest of
// a profile page shows titles and excerpts of posts that others may have edited.

// ParseStackExchangeProfile returns the text of the "about me" on a Stack Exchange profile
// page: the element with the class js-about-me-content. A page without it is an error (an
// empty about me, or a layout this parser does not know).
func ParseStackExchangeProfile(page []byte) (string, error) {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return "", err
	}
	n := find(doc, func(n *html.Node) bool { return n.Type == html.ElementNode && hasClass(n, "js-about-me-content") })
	if n == nil {
		return "", errors.New("no \"about me\" on the profile page (is it empty?)")
	}
	return text(n), nil
}

// ParseHackerNewsProfile returns the "about" of a Hacker News user page: the cell after the
// cell "about:". A page without the "user:" row is not a profile page.
func ParseHackerNewsProfile(page []byte) (string, error) {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return "", err
	}
	label := func(s string) func(*html.Node) bool {
		return func(n *html.Node) bool {
			return n.Type == html.ElementNode && n.DataAtom == atom.Td && strings.TrimSpace(text(n)) == s
		}
	}
	if find(doc, label("user:")) == nil {
		if strings.Contains(text(doc), "No such user.") {
			return "", errors.New("no such user")
		}
		return "", errors.New("not a Hacker News profile page")
	}
	about := find(doc, label("about:"))
	if about == nil {
		return "", nil // the row is left out when the about is empty
	}
	for c := about.NextSibling; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.DataAtom == atom.Td {
			return text(c), nil
		}
	}
	return "", nil
}

// ParseRedditProfile returns the public_description of a Reddit user's about.json.
func ParseRedditProfile(body []byte) (string, error) {
	var v struct {
		Kind string `json:"kind"`
		Data struct {
			Subreddit *struct {
				PublicDescription string `json:"public_description"`
			} `json:"subreddit"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return "", errors.New("not a Reddit user's about.json")
	}
	if v.Kind != "t2" {
		return "", errors.New("not a Reddit user's about.json")
	}
	if v.Data.Subreddit == nil {
		return "", nil
	}
	return v.Data.Subreddit.PublicDescription, nil
}

// find returns the first node in document order for which match is true.
func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if m := find(c, match); m != nil {
			return m
		}
	}
	return nil
}

func hasClass(n *html.Node, class string) bool {
	for _, a := range n.Attr {
		if a.Key == "class" && a.Namespace == "" {
			for _, c := range strings.Fields(a.Val) {
				if c == class {
					return true
				}
			}
		}
	}
	return false
}

// text returns the text under n, with a space between elements so that words of adjacent
// paragraphs do not run together. Scripts and styles are left out.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
			return
		case html.ElementNode:
			if n.DataAtom == atom.Script || n.DataAtom == atom.Style || n.DataAtom == atom.Textarea {
				return
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode {
				b.WriteByte(' ')
			}
			walk(c)
			if c.Type == html.ElementNode {
				b.WriteByte(' ')
			}
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}
