namespace Headroom.Server.Api;

/// <summary>Endpoint metadata: the audit middleware leaves no record for this endpoint's requests, for the reason given.</summary>
public sealed record NotAudited(string Reason);

/// <summary>Endpoint metadata: <c>Idempotency-Key</c> is not honoured here (the response is not stored for replay), for the reason given.</summary>
public sealed record NoIdempotencyReplay(string Reason);
