package services

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strings"
)

// openAPISource is generated from the protos by protoc-gen-openapiv2 (`make generate`).
//
//go:embed openapi/royalty.swagger.json
var openAPISource []byte

// apiDocs are the documents served at /openapi.json and /docs/api, built once.
type apiDocs struct {
	openAPI []byte
	page    []byte
}

// newAPIDocs completes the generated document with what the protos do not say (title, version,
// the bearer key) and renders the reference page from it.
func newAPIDocs() (*apiDocs, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPISource, &doc); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	info, _ := doc["info"].(map[string]any)
	if info == nil {
		info = map[string]any{}
		doc["info"] = info
	}
	info["title"] = "royalty API"
	info["version"] = "v1"
	doc["securityDefinitions"] = map[string]any{
		"bearer": map[string]any{"type": "apiKey", "in": "header", "name": "Authorization",
			"description": "An API key sent as `Authorization: Bearer <key>`."},
	}
	doc["security"] = []any{map[string]any{"bearer": []any{}}}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	var page bytes.Buffer
	if err := apiPage.Execute(&page, pageData(doc)); err != nil {
		return nil, fmt.Errorf("api reference page: %w", err)
	}
	return &apiDocs{openAPI: out, page: page.Bytes()}, nil
}

func (d *apiDocs) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(d.openAPI) //nolint:errcheck // the client went away
}

func (d *apiDocs) servePage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Write(d.page) //nolint:errcheck // the client went away
}

// The reference page's view of the OpenAPI document.
type (
	docPage struct {
		Description string
		Tags        []docTag
		Types       []docType
	}
	docTag struct {
		Name, Description string
		Operations        []docOperation
	}
	docOperation struct {
		Method, Path, Summary, Description, ID string
		Params                                 []docField
		Body, Response                         string
	}
	docField struct {
		Name, In, Type, Description string
		Required                    bool
	}
	docType struct {
		Name, Description string
		Fields            []docField
		Enum              []string
	}
)

func pageData(doc map[string]any) docPage {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	obj := func(m map[string]any, k string) map[string]any { o, _ := m[k].(map[string]any); return o }
	list := func(m map[string]any, k string) []any { l, _ := m[k].([]any); return l }
	var page docPage
	page.Description = str(obj(doc, "info"), "description")
	tags := map[string]*docTag{}
	var order []string
	for _, t := range list(doc, "tags") {
		t, _ := t.(map[string]any)
		name := str(t, "name")
		tags[name] = &docTag{Name: name, Description: str(t, "description")}
		order = append(order, name)
	}
	paths := obj(doc, "paths")
	for _, path := range sortedKeys(paths) {
		ops := obj(paths, path)
		for _, method := range []string{"get", "post", "put", "patch", "delete"} {
			op := obj(ops, method)
			if op == nil {
				continue
			}
			o := docOperation{Method: strings.ToUpper(method), Path: path, Summary: str(op, "summary"),
				Description: str(op, "description"), ID: str(op, "operationId")}
			o.Response = schemaName(obj(obj(obj(op, "responses"), "200"), "schema"))
			for _, p := range list(op, "parameters") {
				p, _ := p.(map[string]any)
				if str(p, "in") == "body" {
					o.Body = schemaName(obj(p, "schema"))
					continue
				}
				o.Params = append(o.Params, docField{Name: str(p, "name"), In: str(p, "in"), Type: typeName(p),
					Description: str(p, "description"), Required: p["required"] == true})
			}
			tag := "other"
			if l := list(op, "tags"); len(l) > 0 {
				tag, _ = l[0].(string)
			}
			if tags[tag] == nil {
				tags[tag] = &docTag{Name: tag}
				order = append(order, tag)
			}
			tags[tag].Operations = append(tags[tag].Operations, o)
		}
	}
	for _, name := range order {
		page.Tags = append(page.Tags, *tags[name])
	}
	defs := obj(doc, "definitions")
	for _, name := range sortedKeys(defs) {
		d := obj(defs, name)
		t := docType{Name: name, Description: firstOf(str(d, "description"), str(d, "title"))}
		props := obj(d, "properties")
		for _, f := range sortedKeys(props) {
			p := obj(props, f)
			t.Fields = append(t.Fields, docField{Name: f, Type: typeName(p), Description: firstOf(str(p, "description"), str(p, "title"))})
		}
		for _, e := range list(d, "enum") {
			t.Enum = append(t.Enum, fmt.Sprint(e))
		}
		page.Types = append(page.Types, t)
	}
	return page
}

// typeName is a schema's type as the page shows it: a definition's name, or the JSON type.
func typeName(s map[string]any) string {
	if ref := schemaName(s); ref != "" {
		return ref
	}
	t, _ := s["type"].(string)
	if t == "array" {
		items, _ := s["items"].(map[string]any)
		return typeName(items) + "[]"
	}
	if f, _ := s["format"].(string); f != "" {
		return t + " (" + f + ")"
	}
	if t == "" {
		return "object"
	}
	return t
}

func schemaName(s map[string]any) string {
	ref, _ := s["$ref"].(string)
	return strings.TrimPrefix(ref, "#/definitions/")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

var apiPage = template.Must(template.New("api").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>royalty API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font:13px/1.4 ui-monospace,monospace;background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}
pre{padding:.6rem;overflow-x:auto;white-space:pre-wrap}
h2{border-bottom:1px solid #ddd;margin-top:2.5rem}
.op{border:1px solid #ddd;border-radius:4px;padding:.5rem .8rem;margin:1rem 0}
.verb{font-weight:bold;display:inline-block;min-width:4rem}
table{border-collapse:collapse;width:100%;font-size:14px}td,th{border-top:1px solid #eee;padding:.2rem .4rem;text-align:left;vertical-align:top}
.desc{white-space:pre-line}
nav a{margin-right:.8rem}
</style></head><body>
<h1>royalty API reference</h1>
<p>Generated from the protos: <a href="/openapi.json">/openapi.json</a> (OpenAPI 2.0).
<nav>{{range .Tags}}<a href="#{{.Name}}">{{.Name}}</a>{{end}}<a href="#types">Types</a></nav>
<p class="desc">{{.Description}}</p>
<h2 id="protocols">Calling the API</h2>
<p>One port answers gRPC, gRPC-Web, Connect and HTTP/JSON, with the same keys, roles, errors and limits.
Every unary method is a <code>POST</code> of JSON to <code>/royalty.v1.&lt;Service&gt;/&lt;Method&gt;</code>,
and most have a REST route too (below). Field names are lowerCamelCase in JSON.</p>
<pre>curl -s -H 'authorization: Bearer KEY' -H 'content-type: application/json' -d '{}' \
  http://HOST/royalty.v1.ContributorService/GetBalance
curl -s -H 'authorization: Bearer KEY' http://HOST/v1/me/balance</pre>
<p>Errors come back as JSON with the gRPC code and message: <code>{"code":"invalid_argument","message":"…"}</code>
from <code>/royalty.v1.…</code> paths (Connect), <code>{"code":3,"message":"…"}</code> from REST routes.
The streaming methods need a streaming protocol: <code>AuditService.ExportJournal</code> (server streaming)
works over HTTP/1.1 with Connect's streaming protocol (<code>application/connect+json</code>, enveloped
messages) or gRPC-Web; <code>IndexService.IngestPosts</code> (client streaming) over gRPC, gRPC-Web or
Connect streaming. Neither has a REST route.</p>
{{range .Tags}}<h2 id="{{.Name}}">{{.Name}}</h2><p class="desc">{{.Description}}</p>
{{range .Operations}}<div class="op" id="{{.ID}}"><div><span class="verb">{{.Method}}</span><code>{{.Path}}</code></div>
<p class="desc">{{.Summary}}{{if .Description}}
{{.Description}}{{end}}</p>
{{if .Params}}<table><tr><th>Parameter</th><th>In</th><th>Type</th><th></th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code>{{if .Required}} (required){{end}}</td><td>{{.In}}</td><td>{{.Type}}</td><td class="desc">{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{if .Body}}<p>Body: <a href="#type-{{.Body}}">{{.Body}}</a></p>{{end}}
{{if .Response}}<p>Returns: <a href="#type-{{.Response}}">{{.Response}}</a></p>{{end}}
</div>{{end}}{{end}}
<h2 id="types">Types</h2>
{{range .Types}}<div class="op" id="type-{{.Name}}"><strong>{{.Name}}</strong><p class="desc">{{.Description}}</p>
{{if .Enum}}<p>One of: {{range $i, $e := .Enum}}{{if $i}}, {{end}}<code>{{$e}}</code>{{end}}</p>{{end}}
{{if .Fields}}<table>{{range .Fields}}<tr><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td class="desc">{{.Description}}</td></tr>
{{end}}</table>{{end}}</div>
{{end}}
</body></html>
`))
