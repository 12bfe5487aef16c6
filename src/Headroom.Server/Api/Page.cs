using System.Globalization;
using System.Linq.Expressions;
using Microsoft.AspNetCore.Http;

namespace Headroom.Server.Api;

/// <summary>A page of a list: <c>{"object":"list","data":[...],"first_id","last_id","has_more"}</c>.</summary>
public sealed record Page<T>(IReadOnlyList<T> Data, string? FirstId, string? LastId, bool HasMore)
{
    public string Object => "list";
}

/// <summary>
/// Cursor pagination: <c>limit</c> (1–100, default 20) and <c>after</c> (the last id of the previous
/// page). Ids sort by creation time, so "after" is a stable cursor while rows are added.
/// </summary>
public readonly record struct PageRequest(int Limit, string? After)
{
    public const int DefaultLimit = 20;
    public const int MaxLimit = 100;

    public static bool TryRead(HttpRequest request, out PageRequest page, out IResult? error)
    {
        page = new PageRequest(DefaultLimit, null);
        error = null;
        var limit = DefaultLimit;
        if (request.Query.TryGetValue("limit", out var l) &&
            (!int.TryParse(l.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit))
        {
            error = Errors.BadRequest($"limit must be a whole number from 1 to {MaxLimit}.", "limit");
            return false;
        }
        var after = request.Query.TryGetValue("after", out var a) ? a.ToString() : null;
        if (after is { Length: > 200 })
        {
            error = Errors.BadRequest("after is not a valid cursor.", "after");
            return false;
        }
        page = new PageRequest(limit, string.IsNullOrEmpty(after) ? null : after);
        return true;
    }

    /// <summary>
    /// Orders by <paramref name="key"/> (an id or name that sorts by creation), skips to after the
    /// cursor and takes one row more than the page, so <see cref="Build"/> knows whether more exist.
    /// </summary>
    public IQueryable<T> ApplyTo<T>(IQueryable<T> query, Expression<Func<T, string>> key)
    {
        if (After is not null)
        {
            // A closure member, not a constant, so the cursor is sent as a query parameter.
            var cursor = Expression.Property(Expression.Constant(this), nameof(After));
            var compare = Expression.Call(typeof(string).GetMethod(nameof(string.Compare), [typeof(string), typeof(string)])!, key.Body, cursor);
            query = query.Where(Expression.Lambda<Func<T, bool>>(Expression.GreaterThan(compare, Expression.Constant(0)), key.Parameters));
        }
        return query.OrderBy(key).Take(Limit + 1);
    }

    /// <summary>Turns up to Limit+1 rows (fetched to learn whether more exist) into a page.</summary>
    public Page<TOut> Build<TRow, TOut>(IReadOnlyList<TRow> rowsPlusOne, Func<TRow, TOut> map, Func<TOut, string> id)
    {
        var data = rowsPlusOne.Take(Limit).Select(map).ToList();
        return new Page<TOut>(data, data.Count > 0 ? id(data[0]) : null, data.Count > 0 ? id(data[^1]) : null, rowsPlusOne.Count > Limit);
    }
}
