using Microsoft.Data.Sqlite;
using Npgsql;

namespace Headroom.Store;

/// <summary>
/// Where state lives, parsed once from <c>--database</c>: a PostgreSQL URL
/// (<c>postgres://user:pass@host:port/db</c>) or Npgsql connection string (<c>Host=...</c>) selects
/// PostgreSQL; a SQLite connection string (<c>Data Source=...</c>) or a file path selects SQLite.
/// </summary>
public sealed record StoreConnection(StoreProvider Provider, string ConnectionString)
{
    public static StoreConnection SqliteFile(string path) =>
        new(StoreProvider.Sqlite, new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            // Seconds a statement waits for another writer (a second process on the same file) before failing.
            DefaultTimeout = 30,
            Pooling = true,
        }.ToString());

    /// <summary>Parses a <c>--database</c> value; returns null and a message when it is neither form.</summary>
    public static StoreConnection? TryParse(string value, out string? error)
    {
        error = null;
        var text = value.Trim();
        if (text.Length == 0)
        {
            error = "is empty";
            return null;
        }

        if (text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) ||
            text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            return FromPostgresUrl(text, out error);
        }

        if (text.Contains('='))
        {
            if (HasKey(text, "host") || HasKey(text, "server"))
            {
                try
                {
                    var builder = new NpgsqlConnectionStringBuilder(text);
                    return new StoreConnection(StoreProvider.Postgres, builder.ConnectionString);
                }
                catch (ArgumentException ex)
                {
                    error = $"is not a valid Npgsql connection string: {ex.Message}";
                    return null;
                }
            }

            try
            {
                var builder = new SqliteConnectionStringBuilder(text);
                if (string.IsNullOrEmpty(builder.DataSource))
                {
                    error = "names neither a PostgreSQL host (Host=...) nor a SQLite file (Data Source=...)";
                    return null;
                }
                return SqliteFile(builder.DataSource);
            }
            catch (ArgumentException ex)
            {
                error = $"is not a valid connection string: {ex.Message}";
                return null;
            }
        }

        return SqliteFile(text);
    }

    private static bool HasKey(string connectionString, string key) =>
        connectionString.Split(';').Any(part => part.Split('=')[0].Trim().Equals(key, StringComparison.OrdinalIgnoreCase));

    private static StoreConnection? FromPostgresUrl(string url, out string? error)
    {
        error = null;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            error = "is not a valid PostgreSQL URL (postgres://user:password@host:port/database)";
            return null;
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
            Database = uri.AbsolutePath.Trim('/') is { Length: > 0 } db ? Uri.UnescapeDataString(db) : "postgres",
        };
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2)
                builder.Password = Uri.UnescapeDataString(parts[1]);
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            try
            {
                builder[Uri.UnescapeDataString(kv[0])] = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "";
            }
            catch (ArgumentException)
            {
                error = $"has an unknown option '{kv[0]}'";
                return null;
            }
        }
        return new StoreConnection(StoreProvider.Postgres, builder.ConnectionString);
    }

    /// <summary>The connection string without its password, for logs and messages.</summary>
    public string Redacted => Provider == StoreProvider.Postgres
        ? new NpgsqlConnectionStringBuilder(ConnectionString) { Password = null }.ConnectionString
        : ConnectionString;
}
