package main

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/gatehouse-id/gatehouse/config"
)

// TestDockerCompose validates docker-compose.yml with the Compose specification's
// own loader (no Docker engine needed) and checks how the services are wired.
func TestDockerCompose(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"../../docker-compose.yml"},
		cli.WithWorkingDirectory("../.."),
		cli.WithEnv([]string{}), // the defaults in the file, not this machine's environment
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	pg, err := p.GetService("postgres")
	if err != nil {
		t.Fatal(err)
	}
	gh, err := p.GetService("gatehouse")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("postgres", func(t *testing.T) {
		if !strings.HasPrefix(pg.Image, "postgres:16") {
			t.Errorf("postgres image = %q, want postgres:16", pg.Image)
		}
		if !hasHealthcheck(pg, "pg_isready") {
			t.Errorf("postgres healthcheck = %+v, want pg_isready", pg.HealthCheck)
		}
		if !slices.ContainsFunc(pg.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeVolume && v.Target == "/var/lib/postgresql/data"
		}) {
			t.Errorf("postgres volumes = %+v, want a named volume on /var/lib/postgresql/data", pg.Volumes)
		}
	})

	t.Run("gatehouse", func(t *testing.T) {
		if gh.Build == nil || gh.Build.Dockerfile != "Dockerfile" {
			t.Errorf("gatehouse build = %+v, want the repository's Dockerfile", gh.Build)
		}
		env := func(k string) string {
			if v := gh.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		// The service's own configuration must pass the same validation serve runs.
		c, err := config.Load("", env, nil)
		if err != nil {
			t.Fatalf("gatehouse environment does not make a valid configuration: %v", err)
		}
		if err := c.ValidateServe(); err != nil {
			t.Errorf("gatehouse environment: %v", err)
		}
		u, err := url.Parse(c.Database.URL)
		if err != nil || u.Hostname() != "postgres" || u.Port() != "5432" {
			t.Errorf("DATABASE_URL = %s, want the postgres service's host and port", config.MaskURL(c.Database.URL))
		}
		if pw, _ := u.User.Password(); pw == "" || pw != *pg.Environment["POSTGRES_PASSWORD"] || u.User.Username() != *pg.Environment["POSTGRES_USER"] {
			t.Errorf("DATABASE_URL user/password do not match the postgres service's POSTGRES_USER/POSTGRES_PASSWORD")
		}
		if strings.TrimPrefix(u.Path, "/") != *pg.Environment["POSTGRES_DB"] {
			t.Errorf("DATABASE_URL database = %s, want POSTGRES_DB %s", u.Path, *pg.Environment["POSTGRES_DB"])
		}
		if !slices.Contains(gh.Command, "serve") || !slices.Contains(gh.Command, "--migrate") {
			t.Errorf("gatehouse command = %q, want serve --migrate", gh.Command)
		}
		if c.Addr != ":8080" {
			t.Errorf("GATEHOUSE_ADDR = %q, want :8080 (a container must listen beyond loopback)", c.Addr)
		}
		if !slices.ContainsFunc(gh.Ports, func(p types.ServicePortConfig) bool { return p.Target == 8080 && p.Published == "8080" }) {
			t.Errorf("gatehouse ports = %+v, want 8080:8080", gh.Ports)
		}
		if !hasHealthcheck(gh, "/healthz") {
			t.Errorf("gatehouse healthcheck = %+v, want one on /healthz", gh.HealthCheck)
		}
		if dep, ok := gh.DependsOn["postgres"]; !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("gatehouse depends_on = %+v, want postgres with condition service_healthy", gh.DependsOn)
		}
	})

	t.Run("Dockerfile", func(t *testing.T) {
		b, err := os.ReadFile("../../Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		df := string(b)
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^FROM golang:1\.26\S* AS build`),
			regexp.MustCompile(`CGO_ENABLED=0 go build`),
			regexp.MustCompile(`(?m)^EXPOSE 8080`),
		} {
			if !want.MatchString(df) {
				t.Errorf("Dockerfile does not match %s", want)
			}
		}
		// The last USER decides who the process runs as: not root, by name or id.
		users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
		if len(users) == 0 {
			t.Fatalf("Dockerfile has no USER: the image would run as root")
		}
		last := strings.Split(users[len(users)-1][1], ":")[0]
		if last == "root" || last == "0" {
			t.Errorf("Dockerfile's final USER is %s, want a non-root user", last)
		}
		// The healthcheck runs wget: the final image must have it (busybox on alpine).
		from := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
		if final := from[len(from)-1][1]; hasHealthcheck(gh, "wget") && !strings.HasPrefix(final, "alpine") {
			t.Errorf("the healthcheck uses wget, but the final image %s may not have it", final)
		}
	})
}

func hasHealthcheck(s types.ServiceConfig, want string) bool {
	return s.HealthCheck != nil && !s.HealthCheck.Disable && strings.Contains(strings.Join(s.HealthCheck.Test, " "), want)
}
