using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Headroom.Store;

// Used only by `dotnet ef migrations add`; the connection strings are never opened.

internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteHeadroomDb>
{
    public SqliteHeadroomDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<SqliteHeadroomDb>().UseSqlite("Data Source=design.db").Options);
}

internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresHeadroomDb>
{
    public PostgresHeadroomDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<PostgresHeadroomDb>().UseNpgsql("Host=localhost;Database=design").Options);
}
