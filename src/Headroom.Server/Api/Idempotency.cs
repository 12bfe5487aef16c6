using System.Security.Cryptography;
using System.Text;
using Headroom.Server.Hosting;
using Headroom.Server.Identity;
using Headroom.Store;
using Headroom.Store.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Api;

/// <summary>
/// <c>Idempotency-Key</c> on POST: the first request with a key claims it (a row with no response
/// yet), runs, and stores its response; a repeat with the same body gets that response again with
/// <c>Idempotent-Replayed: true</c>; a repeat with another body, or one that arrives while the
/// first still runs, gets 409. A 5xx or 429 is not stored, so the caller can retry.
/// </summary>
/// <remarks>
/// The store can be unreachable for a moment (a PostgreSQL restart) between committing the handler's
/// writes and storing their response: the response, held in memory, is stored once the store answers
/// again (for <see cref="Persist.OutageRetryFor"/>, well inside <see cref="AbandonedAfter"/>), and until
/// then a repeat is told the first is still running. A holder that died, or failed after its commit,
/// cannot store it: the handler's writes stamp the claim in their own transaction (<see cref="IdempotencyClaim"/>), so a
/// repeat then gets 409 <c>idempotency_key_applied</c> — the request took effect, fetch its result —
/// and never runs it twice. A claim with nothing applied is taken over once its holder is known dead:
/// it let go, this replica restarted since (its replica id is unique among running replicas, as the
/// leader lease already requires), or <see cref="AbandonedAfter"/> has passed.
/// </remarks>
internal sealed class Idempotency(RequestDelegate next)
{
    public const string Header = "Idempotency-Key";
    private static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(1);

    // Tells this process's claims from those of an earlier run of the same replica.
    private static readonly string s_instance = Guid.NewGuid().ToString("N");

    public async Task InvokeAsync(HttpContext context, Database database, TimeProvider time, HeadroomSettings settings)
    {
        var principal = Access.Of(context);
        if (!HttpMethods.IsPost(context.Request.Method) || principal is null || context.GetEndpoint()?.Metadata.GetMetadata<NoIdempotencyReplay>() is not null ||
            !context.Request.Headers.TryGetValue(Header, out var values))
        {
            await next(context);
            return;
        }

        var key = values.ToString();
        if (key.Length is 0 or > 255 || key.Any(c => c is < ' ' or > '~'))
        {
            await Errors.BadRequest($"{Header} must be 1–255 printable ASCII characters.", Header).ExecuteAsync(context);
            return;
        }

        var requestHash = await HashRequestAsync(context.Request);
        var now = time.GetUtcNow();
        await using (var db = database.Open())
        {
            var existing = await db.IdempotencyRecords.SingleOrDefaultAsync(r => r.OrgId == principal.OrgId && r.Key == key, context.RequestAborted);
            var abandoned = existing is not null && existing.StatusCode == 0 && Abandoned(existing, now, settings);
            if (existing is not null && !(abandoned && existing.AppliedAt is null && existing.RequestHash == requestHash))
            {
                await AnswerRepeatAsync(context, existing, requestHash, abandoned);
                return;
            }
            var claimedBy = $"{settings.ReplicaId}#{s_instance}";
            if (existing is null)
            {
                db.IdempotencyRecords.Add(new IdempotencyRow { OrgId = principal.OrgId, Key = key, RequestHash = requestHash, Body = [], CreatedAt = now, ClaimedBy = claimedBy });
                if (!await Persist.TrySaveAsync(db, context.RequestAborted))
                {
                    await using var again = database.Open();
                    var winner = await again.IdempotencyRecords.SingleAsync(r => r.OrgId == principal.OrgId && r.Key == key, context.RequestAborted);
                    await AnswerRepeatAsync(context, winner, requestHash, holderDead: false);
                    return;
                }
            }
            else
            {
                existing.CreatedAt = now;
                existing.ClaimedBy = claimedBy;
                await db.SaveChangesAsync(context.RequestAborted);
            }
        }

        var original = context.Response.Body;
        await using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            using (IdempotencyClaim.Enter(principal.OrgId, key, now))
                await next(context);
        }
        catch
        {
            context.Response.Body = original;
            await Persist.WhileStoreRecoversAsync(time, () => ReleaseAsync(database, principal.OrgId, key));
            throw;
        }
        context.Response.Body = original;

        // A 429 (a spent budget, a rate limit) is not kept either: the same request may succeed once there is room.
        if (context.Response.StatusCode is >= 500 or StatusCodes.Status429TooManyRequests)
        {
            await Persist.WhileStoreRecoversAsync(time, () => ReleaseAsync(database, principal.OrgId, key));
        }
        else
        {
            var (status, contentType, location, body) = (context.Response.StatusCode, context.Response.ContentType ?? "", context.Response.Headers.Location.ToString(), buffer.ToArray());
            await Persist.WhileStoreRecoversAsync(time, async () =>
            {
                await using var db = database.Open();
                await db.IdempotencyRecords.Where(r => r.OrgId == principal.OrgId && r.Key == key).ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.StatusCode, status)
                    .SetProperty(r => r.ContentType, contentType)
                    .SetProperty(r => r.Location, location)
                    .SetProperty(r => r.Body, body), CancellationToken.None);
            });
        }
        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted);
    }

    private static async Task AnswerRepeatAsync(HttpContext context, IdempotencyRow row, string requestHash, bool holderDead)
    {
        if (row.RequestHash != requestHash)
        {
            await Errors.Conflict($"This {Header} was already used with a different request.", "idempotency_key_reused", Header).ExecuteAsync(context);
            return;
        }
        // A live holder may still store the response of what it applied; only a dead one leaves the caller to look it up.
        if (row.StatusCode == 0 && row.AppliedAt is not null && holderDead)
        {
            await Errors.Conflict($"A request with this {Header} took effect, but its response was lost (the server stopped or failed before answering). Look up its result (for example with GET) instead of sending it again.",
                "idempotency_key_applied", Header).ExecuteAsync(context);
            return;
        }
        if (row.StatusCode == 0)
        {
            await Errors.Conflict($"A request with this {Header} is still being processed; retry shortly.", "idempotency_key_in_use", Header).ExecuteAsync(context);
            return;
        }
        context.Response.StatusCode = row.StatusCode;
        if (row.ContentType.Length > 0)
            context.Response.ContentType = row.ContentType;
        if (row.Location.Length > 0)
            context.Response.Headers.Location = row.Location;
        context.Response.Headers["Idempotent-Replayed"] = "true";
        await context.Response.Body.WriteAsync(row.Body, context.RequestAborted);
    }

    private static bool Abandoned(IdempotencyRow claim, DateTimeOffset now, HeadroomSettings settings) =>
        claim.ClaimedBy.Length == 0 || claim.CreatedAt < now - AbandonedAfter ||
        (claim.ClaimedBy.StartsWith($"{settings.ReplicaId}#", StringComparison.Ordinal) && claim.ClaimedBy != $"{settings.ReplicaId}#{s_instance}");

    /// <summary>Lets go of a claim whose request is not answered: a repeat runs it, or learns at once that it took effect.</summary>
    private static async Task ReleaseAsync(Database database, string orgId, string key)
    {
        await using var db = database.Open();
        await db.IdempotencyRecords.Where(r => r.OrgId == orgId && r.Key == key && r.StatusCode == 0 && r.AppliedAt == null).ExecuteDeleteAsync(CancellationToken.None);
        // A claim whose request changed something stays (a repeat must not apply it again), with no holder left to wait for.
        await db.IdempotencyRecords.Where(r => r.OrgId == orgId && r.Key == key && r.StatusCode == 0).ExecuteUpdateAsync(s => s.SetProperty(r => r.ClaimedBy, ""), CancellationToken.None);
    }

    /// <summary>Hashes what makes two requests "the same": method, path, query and body bytes.</summary>
    private static async Task<string> HashRequestAsync(HttpRequest request)
    {
        request.EnableBuffering();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{request.Method} {request.Path}{request.QueryString}\n"));
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
            hash.AppendData(chunk, 0, read);
        request.Body.Position = 0;
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
