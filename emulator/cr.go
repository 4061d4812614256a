package emulator

// ACR Enterprise Edition, product cr, version 2018-12-01, RPC style.

const tempUsername = "cr_temp_user"

func (s *Server) serveCR(q *apiRequest) {
	if q.roa() {
		s.servePersonal(q) // Personal Edition (personal.go)
		return
	}
	switch q.action {
	case "GetAuthorizationToken", "ListInstanceEndpoint":
	case "":
		s.fail(q, errf(400, "MissingAction", "Action is mandatory for this request."))
		return
	default:
		s.fail(q, errf(404, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."))
		return
	}
	if v := q.params.Get("Version"); v != crVersion {
		s.fail(q, errf(400, "InvalidVersion", "Specified parameter Version is not valid."))
		return
	}
	id := q.params.Get("InstanceId")
	if id == "" {
		s.fail(q, errf(400, "MissingInstanceId", "InstanceId is mandatory for this action."))
		return
	}
	s.mu.Lock()
	in, ok := s.instances[id]
	s.mu.Unlock()
	if !ok {
		s.fail(q, errf(404, "INSTANCE_NOT_EXIST", "instance not exist"))
		return
	}
	if q.action == "GetAuthorizationToken" {
		s.getAuthorizationToken(q, in)
	} else {
		s.listInstanceEndpoint(q, in)
	}
}

func (s *Server) getAuthorizationToken(q *apiRequest, in Instance) {
	s.mu.Lock()
	tok := s.mintLocked(in.ID, q.call.AccessKeyID, in.TokenTTL)
	s.mu.Unlock()
	s.okCR(q, struct {
		IsSuccess          bool   `json:"IsSuccess"`
		Code               string `json:"Code"`
		RequestID          string `json:"RequestId"`
		TempUsername       string `json:"TempUsername"`
		AuthorizationToken string `json:"AuthorizationToken"`
		ExpireTime         int64  `json:"ExpireTime"`
	}{true, "success", q.reqID, tok.Username, tok.Password, tok.ExpiresAt.UnixMilli()})
}

type crDomain struct {
	Domain string `json:"Domain"`
	Type   string `json:"Type"`
}

type crEndpoint struct {
	EndpointType string     `json:"EndpointType"`
	Enable       bool       `json:"Enable"`
	AclEnable    bool       `json:"AclEnable"`
	Status       string     `json:"Status"`
	Domains      []crDomain `json:"Domains"`
	LinkedVpcs   []any      `json:"LinkedVpcs"`
	AclEntries   []any      `json:"AclEntries"`
}

// listInstanceEndpoint answers the Registry endpoints (ModuleName empty or
// "Registry"); other modules (e.g. Chart) have none in the emulator.
func (s *Server) listInstanceEndpoint(q *apiRequest, in Instance) {
	eps := []crEndpoint{}
	if m := q.params.Get("ModuleName"); m == "" || m == "Registry" {
		for _, e := range in.Endpoints {
			status := "DISABLED"
			if e.Enabled {
				status = "RUNNING"
			}
			domains := make([]crDomain, 0, len(e.Domains))
			for i, d := range e.Domains {
				typ := "SYSTEM"
				if i > 0 {
					typ = "USER"
				}
				domains = append(domains, crDomain{d, typ})
			}
			eps = append(eps, crEndpoint{
				EndpointType: e.Type, Enable: e.Enabled, Status: status, Domains: domains,
				LinkedVpcs: []any{}, AclEntries: []any{},
			})
		}
	}
	s.okCR(q, struct {
		IsSuccess bool         `json:"IsSuccess"`
		Code      string       `json:"Code"`
		RequestID string       `json:"RequestId"`
		Endpoints []crEndpoint `json:"Endpoints"`
	}{true, "success", q.reqID, eps})
}
