package mxsandbox

import (
	"net/http"
	"strings"
)

func institutionToJSON(inst *institution) institutionJSON {
	return institutionJSON{
		Code:                          inst.Code,
		GUID:                          inst.GUID,
		Name:                          inst.Name,
		URL:                           inst.URL,
		ISOCountryCode:                "US",
		ForgotPasswordURL:             strPtr(inst.URL + "/forgot-password"),
		ForgotUsernameURL:             strPtr(inst.URL + "/forgot-username"),
		TroubleSigningInURL:           strPtr(inst.URL + "/help"),
		SupportsAccountIdentification: true,
		SupportsAccountStatement:      true,
		SupportsAccountVerification:   true,
		SupportsOAuth:                 inst.SupportsOAuth,
		SupportsTaxDocument:           false,
		SupportsTransactionHistory:    true,
	}
}

func (s *Sandbox) lookupInstitution(req *request) (*institution, *reply) {
	inst, ok := s.instByCode[req.PathValue("code")]
	if !ok {
		rep := errReply(http.StatusNotFound, "Institution not found.")
		return nil, &rep
	}
	return inst, nil
}

func (s *Sandbox) listInstitutions(req *request) reply {
	q := req.URL.Query()
	name := strings.ToLower(q.Get("name"))
	var matched []institutionJSON
	for _, inst := range s.institutions {
		if name != "" && !strings.Contains(strings.ToLower(inst.Name), name) && !strings.Contains(inst.Code, name) {
			continue
		}
		if q.Get("supports_oauth") == "true" && !inst.SupportsOAuth {
			continue
		}
		matched = append(matched, institutionToJSON(inst))
	}
	start, end, p := paginate(q, len(matched), MaxInstitutionsPerPage)
	return reply{status: http.StatusOK, body: institutionsResponse{Institutions: nonNil(matched[start:end]), Pagination: p}}
}

func (s *Sandbox) readInstitution(req *request) reply {
	inst, rep := s.lookupInstitution(req)
	if rep != nil {
		return *rep
	}
	return reply{status: http.StatusOK, body: institutionResponse{Institution: institutionToJSON(inst)}}
}

func (s *Sandbox) listCredentials(req *request) reply {
	inst, rep := s.lookupInstitution(req)
	if rep != nil {
		return *rep
	}
	start, end, p := paginate(req.URL.Query(), len(inst.Credentials), MaxPerPage)
	creds := []credentialJSON{}
	for _, c := range inst.Credentials[start:end] {
		creds = append(creds, credentialJSON{GUID: c.GUID, FieldName: c.FieldName, FieldType: c.Type, Label: c.Label, Type: c.Type, DisplayOrder: c.DisplayOrder})
	}
	return reply{status: http.StatusOK, body: credentialsResponse{Credentials: creds, Pagination: p}}
}
