using Headroom.Store;
using Npgsql;

namespace Headroom.Store.Tests;

public sealed class StoreConnectionTests
{
    [Theory]
    [InlineData("postgres://app:s3cr%40t@db.example:6432/headroom?sslmode=require", "db.example", 6432, "headroom", "app", "s3cr@t")]
    [InlineData("postgresql://db/headroom", "db", 5432, "headroom", null, null)]
    [InlineData("Host=db;Port=5433;Database=hr;Username=u;Password=p", "db", 5433, "hr", "u", "p")]
    public void Postgres_urls_and_connection_strings_select_postgres(string text, string host, int port, string database, string? user, string? password)
    {
        var connection = StoreConnection.TryParse(text, out var error);

        Assert.Null(error);
        Assert.Equal(StoreProvider.Postgres, connection!.Provider);
        var builder = new NpgsqlConnectionStringBuilder(connection.ConnectionString);
        Assert.Equal((host, port, database, user, password), (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password));
        Assert.DoesNotContain("Password", connection.Redacted, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("/var/lib/headroom/state.db", "/var/lib/headroom/state.db")]
    [InlineData("Data Source=/tmp/x.db", "/tmp/x.db")]
    public void Files_and_sqlite_connection_strings_select_sqlite(string text, string path)
    {
        var connection = StoreConnection.TryParse(text, out var error);

        Assert.Null(error);
        Assert.Equal(StoreProvider.Sqlite, connection!.Provider);
        Assert.Contains(path, connection.ConnectionString, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("postgres://", "not a valid PostgreSQL URL")]
    [InlineData("postgres://db/x?nonsense_option=1", "unknown option")]
    [InlineData("Foo=bar", "not a valid connection string")]
    public void Unusable_values_are_refused_with_a_reason(string text, string reason)
    {
        Assert.Null(StoreConnection.TryParse(text, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }
}
