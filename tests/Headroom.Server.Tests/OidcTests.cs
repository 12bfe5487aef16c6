using System.Net;
using System.Security.Cryptography;
using Headroom.Server.Hosting;
using Headroom.Server.Tests.Infrastructure;
using Microsoft.IdentityModel.Tokens;

namespace Headroom.Server.Tests;

/// <summary>OIDC federation against a real (local) issuer: discovery, JWKS, signature, audience, claims.</summary>
public sealed class OidcTests : IAsyncLifetime
{
    private LocalOidcIssuer _issuer = null!;
    private TestServer _server = null!;
    private string _orgId = "";

    public async Task InitializeAsync()
    {
        _issuer = await LocalOidcIssuer.StartAsync();
        _server = await TestServer.StartAsync(configure: s => s with
        {
            OidcIssuers = [new OidcIssuerSettings
            {
                Name = "corp", Authority = _issuer.Authority, Audience = "headroom", OrgClaim = "tenant", RoleClaim = "headroom_role",
                RequireHttpsMetadata = false,
            }],
        });
        (_orgId, var ownerKey) = await _server.CreateTenantAsync("acme");
        using var owner = _server.Client(ownerKey);
        await owner.PostJsonAsync("/v1/members", new { email = "grace@acme.example", role = "admin" });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _issuer.DisposeAsync();
    }

    private Dictionary<string, object> Claims(string sub, string tenant, string? role = null, string? email = null)
    {
        var claims = new Dictionary<string, object> { ["sub"] = sub, ["tenant"] = tenant };
        if (role is not null)
            claims["headroom_role"] = role;
        if (email is not null)
            claims["email"] = email;
        return claims;
    }

    [Fact]
    public async Task A_token_with_org_and_role_claims_acts_in_that_org_with_that_role()
    {
        using var client = _server.Client(_issuer.Token("headroom", Claims("alice", "acme", role: "admin")));

        var projects = await client.PostJsonAsync("/v1/projects", new { name = "from-sso" });
        var orgs = await client.GetJsonAsync("/v1/orgs");
        var audit = await _server.Admin().GetJsonAsync($"/v1/audit?org_id={_orgId}&action=projects.create");

        Assert.Equal(_orgId, projects["org_id"]!.GetValue<string>());
        Assert.Equal(_orgId, Assert.Single(orgs["data"]!.AsArray())!["id"]!.GetValue<string>());
        var record = Assert.Single(audit["data"]!.AsArray())!;
        Assert.Equal("corp:alice", record["actor"]!.GetValue<string>());
        Assert.Equal("oidc", record["actor_type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Without_a_role_claim_the_members_role_for_the_tokens_email_applies()
    {
        using var grace = _server.Client(_issuer.Token("headroom", Claims("grace", _orgId, email: "Grace@acme.example")));
        using var stranger = _server.Client(_issuer.Token("headroom", Claims("eve", "acme", email: "eve@evil.example")));

        await grace.PostJsonAsync("/v1/projects", new { name = "by-grace" });
        using var refused = await stranger.GetAsync("/v1/projects");

        await HttpJson.ErrorAsync(refused, 401);
    }

    [Fact]
    public async Task A_role_claim_never_makes_a_tenant_a_fleet_admin()
    {
        using var client = _server.Client(_issuer.Token("headroom", Claims("mallory", "acme", role: "fleet-admin")));

        using var response = await client.GetAsync("/v1/fleet/nodes");

        await HttpJson.ErrorAsync(response, 401);
    }

    [Theory]
    [InlineData("wrong audience")]
    [InlineData("unknown issuer")]
    [InlineData("foreign signing key")]
    [InlineData("expired")]
    [InlineData("unknown org")]
    public async Task Tokens_that_do_not_hold_up_are_refused_and_audited(string flaw)
    {
        var claims = Claims("bob", flaw == "unknown org" ? "no-such-org" : "acme", role: "owner");
        var token = flaw switch
        {
            "wrong audience" => _issuer.Token("someone-else", claims),
            "unknown issuer" => _issuer.Token("headroom", claims, issuer: "https://evil.example"),
            "foreign signing key" => _issuer.Token("headroom", claims, signWith: new RsaSecurityKey(RSA.Create(2048)) { KeyId = "test-key-1" }),
            "expired" => _issuer.Token("headroom", claims, lifetime: TimeSpan.FromMinutes(-10)),
            _ => _issuer.Token("headroom", claims),
        };
        using var client = _server.Client(token);

        using var response = await client.GetAsync("/v1/projects");
        var failures = await _server.Admin().GetJsonAsync("/v1/audit?action=auth.failed");

        await HttpJson.ErrorAsync(response, 401);
        Assert.NotEmpty(failures["data"]!.AsArray());
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
