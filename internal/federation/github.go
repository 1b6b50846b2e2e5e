package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// githubUser redeems code at GitHub (OAuth 2.0 with PKCE: GitHub has no
// OpenID Connect for users) and reads the account from its REST API: the user
// (GET /user) and its addresses (GET /user/emails), of which the primary one
// counts, verified as GitHub says.
func (s *Service) githubUser(ctx context.Context, p *provider, code string, st flowState) (upstreamUser, error) {
	conf := p.oauth
	conf.RedirectURL = st.Redirect
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return upstreamUser{}, upstreamFailure(p.cfg.ID, "token exchange", err)
	}
	var u struct {
		ID        int64  `json:"id"`
		Login     string `json:"login"`
		Name      string `json:"name"`
		AvatarURL string `json:"avatar_url"`
	}
	if err := s.githubGet(ctx, p, tok, "/user", &u); err != nil {
		return upstreamUser{}, err
	}
	if u.ID <= 0 {
		return upstreamUser{}, fail(CodeUpstreamError, p.cfg.ID, "GET /user gave no id", nil)
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := s.githubGet(ctx, p, tok, "/user/emails", &emails); err != nil {
		return upstreamUser{}, err
	}
	up := upstreamUser{Subject: strconv.FormatInt(u.ID, 10), Name: u.Name, Picture: u.AvatarURL, Token: tok}
	if up.Name == "" {
		up.Name = u.Login
	}
	for _, e := range emails {
		if e.Primary {
			up.Email, up.EmailVerified = strings.TrimSpace(e.Email), e.Verified
		}
	}
	return up, nil
}

func (s *Service) githubGet(ctx context.Context, p *provider, tok *oauth2.Token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.cfg.APIURL, "/")+path, nil)
	if err != nil {
		return fail(CodeUpstreamError, p.cfg.ID, "GET "+path, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := s.http.Do(req)
	if err != nil {
		return upstreamFailure(p.cfg.ID, "GET "+path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(CodeUpstreamError, p.cfg.ID, fmt.Sprintf("GET %s answered %d", path, resp.StatusCode), nil)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fail(CodeUpstreamError, p.cfg.ID, "GET "+path+": not the expected JSON", err)
	}
	return nil
}
