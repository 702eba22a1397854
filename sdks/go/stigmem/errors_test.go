package stigmem

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// What sits between a client and a node (a proxy, a wrong port) does not answer in the
// node's error shape: the error still carries the status and a readable message.
func TestAnAnswerNotInTheErrorShapeIsStillAnAPIError(t *testing.T) {
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	}))
	defer proxy.Close()
	c, err := New(proxy.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Me(context.Background())
	var e *APIError
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "http_502" || e.Message != "<html>bad gateway</html>" {
		t.Fatalf("got %#v", err)
	}
}

func TestTheErrorBodyIsReadWhole(t *testing.T) {
	body := `{"detail": "fact not found: abc", "error": {"code": "fact_not_found", "message": "no such fact", "field": "fact_ref"}}`
	e := parseAPIError(404, []byte(body))
	if e.Code != "fact_not_found" || e.Message != "no such fact" || e.Field != "fact_ref" || e.Detail != "fact not found: abc" {
		t.Fatalf("%+v", e)
	}
	if want := "stigmem: 404 fact_not_found: no such fact (field fact_ref)"; e.Error() != want {
		t.Fatalf("%q, want %q", e.Error(), want)
	}
}
