package emulator

import (
	"bytes"
	"encoding/json"
)

// What tests set to make answers differ from what the API references
// document: the older shape of ListSecrets, and doctored answers that no
// real API should give (a value member left out), to show that the
// function fails closed and that the conformance test can fail.

// SetListSecretsData switches SAE's ListSecrets between the current API
// reference's answer (false, the default: metadata and RelateApps, no
// SecretData) and the older one that carried every secret's SecretData (true).
func (s *Server) SetListSecretsData(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listData = on
}

// SetAnswerEdit makes every successful answer of an action of a product
// ("sae", "cr", "kms", "sts", "csms", "ssm") pass through edit, as a
// decoded JSON object (numbers as json.Number), before it is sent. A nil
// edit removes it. Calls are recorded as usual.
func (s *Server) SetAnswerEdit(product, action string, edit func(answer map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.edits == nil {
		s.edits = map[string]func(map[string]any){}
	}
	if edit == nil {
		delete(s.edits, product+" "+action)
		return
	}
	s.edits[product+" "+action] = edit
}

// edited is body after the edit set for q's product and action, if any.
func (s *Server) edited(q *apiRequest, body any) any {
	s.mu.Lock()
	edit := s.edits[q.product+" "+q.action]
	s.mu.Unlock()
	if edit == nil {
		return body
	}
	b, err := json.Marshal(body)
	if err != nil {
		return body
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return body
	}
	edit(m)
	return m
}
