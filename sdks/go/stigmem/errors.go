package stigmem

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ValidationIssue is one field that broke a rule (422 only).
type ValidationIssue struct {
	Type  string          `json:"type"`
	Loc   []interface{}   `json:"loc"`
	Msg   string          `json:"msg"`
	Input json.RawMessage `json:"input,omitempty"`
	Ctx   map[string]any  `json:"ctx,omitempty"`
}

// APIError is a non-2xx answer from the node, read from its error body
// {"detail": "<one line>", "error": {code, message, field?, issues?}}.
// A body that is not that shape still gives an APIError: Code is "http_<status>"
// and Message the start of the body, so the caller never sees a bare status.
type APIError struct {
	Status  int
	Code    string
	Message string
	Field   string
	Detail  string
	Issues  []ValidationIssue
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stigmem: %d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		fmt.Fprintf(&b, " (field %s)", e.Field)
	}
	return b.String()
}

type errorBody struct {
	Detail string `json:"detail"`
	Error  *struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Field   *string           `json:"field"`
		Issues  []ValidationIssue `json:"issues"`
	} `json:"error"`
}

func parseAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	var parsed errorBody
	if json.Unmarshal(body, &parsed) == nil && parsed.Error != nil && parsed.Error.Code != "" {
		e.Code = parsed.Error.Code
		e.Message = parsed.Error.Message
		if parsed.Error.Field != nil {
			e.Field = *parsed.Error.Field
		}
		e.Issues = parsed.Error.Issues
		e.Detail = parsed.Detail
		if e.Message == "" {
			e.Message = parsed.Detail
		}
		return e
	}
	e.Code = fmt.Sprintf("http_%d", status)
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	if text == "" {
		text = "(empty body)"
	}
	e.Message = text
	e.Detail = text
	return e
}
