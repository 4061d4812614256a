package emulator

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// SAE secrets, product sae, version 2019-05-06, ROA style.

type saeApp struct {
	AppID   string `json:"AppId"`
	AppName string `json:"AppName"`
}

// saeListed is a secret in ListSecrets' Data.Secrets[] as the current API
// reference answers it (sae-20190506 ListSecretsResponseBody): metadata and
// RelateApps, no SecretData. SetListSecretsData answers saeSecret instead,
// with SecretData, as older API versions did.
type saeListed struct {
	NamespaceID string   `json:"NamespaceId"`
	SecretID    int64    `json:"SecretId"`
	SecretName  string   `json:"SecretName"`
	SecretType  string   `json:"SecretType"`
	CreateTime  int64    `json:"CreateTime"`
	UpdateTime  int64    `json:"UpdateTime"`
	RelateApps  []saeApp `json:"RelateApps"`
}

// saeSecret is DescribeSecret's Data: the listed members and SecretData.
type saeSecret struct {
	saeListed
	SecretData map[string]string `json:"SecretData"`
}

// toListed is sec's listed form; its data is not read.
func toListed(sec Secret) saeListed {
	apps := make([]saeApp, 0, len(sec.RelateApps))
	for _, a := range sec.RelateApps {
		apps = append(apps, saeApp(a))
	}
	return saeListed{NamespaceID: sec.NamespaceID, SecretID: sec.ID, SecretName: sec.Name, SecretType: sec.Type,
		CreateTime: sec.CreateTime, UpdateTime: sec.UpdateTime, RelateApps: apps}
}

func toWire(sec Secret) saeSecret { return saeSecret{toListed(sec), copyData(sec.Data)} }

func (s *Server) serveSAE(q *apiRequest) {
	switch q.action {
	case "DescribeSecret", "UpdateSecret", "ListSecrets", "CreateSecret":
	default:
		s.fail(q, errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."))
		return
	}
	if v := q.r.Header.Get("x-acs-version"); v != "" && v != saeVersion {
		s.fail(q, errf(400, "InvalidVersion", "Specified parameter Version is not valid."))
		return
	}
	s.mu.Lock()
	admitted := s.admitQuota(time.Now())
	s.mu.Unlock()
	if !admitted {
		s.fail(q, throttled)
		return
	}
	var e *apiError
	switch q.action {
	case "DescribeSecret":
		e = s.describeSecret(q)
	case "UpdateSecret":
		e = s.updateSecret(q)
	case "ListSecrets":
		e = s.listSecrets(q)
	case "CreateSecret":
		e = s.createSecretAPI(q)
	}
	if e != nil {
		s.fail(q, e)
	}
}

// namespaceAndID reads the required NamespaceId and SecretId parameters.
func namespaceAndID(q *apiRequest) (string, int64, *apiError) {
	ns := q.params.Get("NamespaceId")
	if ns == "" {
		return "", 0, notEmpty("NamespaceId")
	}
	idText := q.params.Get("SecretId")
	if idText == "" {
		return "", 0, notEmpty("SecretId")
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return "", 0, invalidParam("SecretId", "must be a positive integer")
	}
	return ns, id, nil
}

// lookupLocked finds a secret of a namespace. Call with s.mu held.
func (s *Server) lookupLocked(ns string, id int64) (*secretState, *apiError) {
	if !s.namespaces[ns] {
		return nil, errf(404, "InvalidNamespaceId.NotFound", "The specified NamespaceId does not exist.")
	}
	st := s.secrets[id]
	if st == nil || st.cur.NamespaceID != ns {
		return nil, errf(400, "InvalidSecretId.NotFound", "The specified SecretId ["+strconv.FormatInt(id, 10)+"] does not exist in our records.")
	}
	return st, nil
}

// readLocked is a read of a secret through the API: while LagReads is in
// force, the first reads after a stored write still see the state before it.
// Only reads with a lag count (a DescribeSecret lag is not used up by ListSecrets).
func readLocked(st *secretState, lag int) Secret {
	if lag <= 0 || st.prev == nil {
		return st.cur
	}
	st.readsSinceWrite++
	if st.readsSinceWrite <= lag {
		return *st.prev
	}
	st.prev = nil
	return st.cur
}

func (s *Server) describeSecret(q *apiRequest) *apiError {
	ns, id, e := namespaceAndID(q)
	if e != nil {
		return e
	}
	s.mu.Lock()
	st, e := s.lookupLocked(ns, id)
	var view saeSecret
	if e == nil {
		view = toWire(readLocked(st, s.lagReads(q.action, q.product)))
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	s.okSAE(q, view)
	return nil
}

func (s *Server) listSecrets(q *apiRequest) *apiError {
	ns := q.params.Get("NamespaceId")
	if ns == "" {
		return notEmpty("NamespaceId")
	}
	s.mu.Lock()
	if !s.namespaces[ns] {
		s.mu.Unlock()
		return errf(404, "InvalidNamespaceId.NotFound", "The specified NamespaceId does not exist.")
	}
	lag := s.lagReads(q.action, q.product)
	var states []*secretState
	for _, st := range s.secrets {
		if st.cur.NamespaceID == ns {
			states = append(states, st)
		}
	}
	sort.Slice(states, func(i, j int) bool { return states[i].cur.ID < states[j].cur.ID })
	withData := s.listData
	list := make([]any, 0, len(states))
	for _, st := range states {
		if sec := readLocked(st, lag); withData {
			list = append(list, toWire(sec))
		} else {
			list = append(list, toListed(sec))
		}
	}
	s.mu.Unlock()
	s.okSAE(q, struct {
		Secrets []any `json:"Secrets"`
	}{list})
	return nil
}

func (s *Server) updateSecret(q *apiRequest) *apiError {
	ns, id, e := namespaceAndID(q)
	if e != nil {
		return e
	}
	data, e := parseWrappedSecretData(q.params.Get("SecretData"))
	if e != nil {
		return e
	}
	s.mu.Lock()
	st, e := s.lookupLocked(ns, id)
	if e == nil && !s.consumeDropWrite(q.action, q.product) {
		prev := copySecret(st.cur)
		st.prev = &prev
		st.readsSinceWrite = 0
		st.cur.Data = data
		st.cur.UpdateTime = nextUpdateTime(st.cur.UpdateTime)
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	s.okSAE(q, struct {
		SecretID int64 `json:"SecretId"`
	}{id})
	return nil
}

var secretTypes = map[string]bool{"Opaque": true, "kubernetes.io/dockerconfigjson": true}

func (s *Server) createSecretAPI(q *apiRequest) *apiError {
	ns := q.params.Get("NamespaceId")
	name := q.params.Get("SecretName")
	typ := q.params.Get("SecretType")
	for _, p := range [][2]string{{"NamespaceId", ns}, {"SecretName", name}, {"SecretType", typ}, {"SecretData", q.params.Get("SecretData")}} {
		if p[1] == "" {
			return notEmpty(p[0])
		}
	}
	if !secretTypes[typ] {
		return invalidParam("SecretType", "must be Opaque or kubernetes.io/dockerconfigjson")
	}
	if !secretNameRE.MatchString(name) || len(name) > 64 {
		return invalidParam("SecretName", "must be lower-case letters, digits, '-' and '.'")
	}
	data, e := parseWrappedSecretData(q.params.Get("SecretData"))
	if e != nil {
		return e
	}
	s.mu.Lock()
	var id int64
	if !s.namespaces[ns] {
		e = errf(404, "InvalidNamespaceId.NotFound", "The specified NamespaceId does not exist.")
	} else {
		for _, st := range s.secrets {
			if st.cur.NamespaceID == ns && st.cur.Name == name {
				e = invalidParam("SecretName", "a secret with this name already exists in the namespace")
				break
			}
		}
	}
	if e == nil {
		id, _ = s.createLocked(Secret{NamespaceID: ns, Name: name, Type: typ, Data: data})
	}
	s.mu.Unlock()
	if e != nil {
		return e
	}
	s.okSAE(q, struct {
		SecretID int64 `json:"SecretId"`
	}{id})
	return nil
}

// secretKeyRE is the Kubernetes rule for secret data keys, secretNameRE the
// one for object names.
var (
	secretKeyRE  = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	secretNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
)

// parseWrappedSecretData accepts only the wrapped form
// {"SecretData":"<JSON object of every key, values strings>"}. Error messages
// never echo the data.
func parseWrappedSecretData(raw string) (map[string]string, *apiError) {
	if raw == "" {
		return nil, notEmpty("SecretData")
	}
	const want = `expected the form {"SecretData":"<JSON object of key/value strings>"}`
	var outer map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &outer); err != nil || len(outer) != 1 {
		return nil, invalidParam("SecretData", want)
	}
	innerRaw, ok := outer["SecretData"]
	if !ok {
		return nil, invalidParam("SecretData", want)
	}
	var inner string
	if err := json.Unmarshal(innerRaw, &inner); err != nil {
		return nil, invalidParam("SecretData", want)
	}
	if inner == "" {
		return nil, notEmpty("SecretData.SecretData")
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(inner), &obj); err != nil || obj == nil {
		return nil, invalidParam("SecretData", "the inner SecretData must be a JSON object")
	}
	if len(obj) == 0 {
		return nil, invalidParam("SecretData", "the secret must hold at least one key")
	}
	data := make(map[string]string, len(obj))
	for k, v := range obj {
		str, ok := v.(string)
		if !ok {
			return nil, invalidParam("SecretData", "every value must be a string")
		}
		if !secretKeyRE.MatchString(k) || len(k) > 253 {
			return nil, invalidParam("SecretData", "keys must consist of alphanumeric characters, '-', '_' or '.'")
		}
		data[k] = str
	}
	return data, nil
}
