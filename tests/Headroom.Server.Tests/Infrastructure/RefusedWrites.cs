using Headroom.Store;
using Microsoft.EntityFrameworkCore;

namespace Headroom.Server.Tests.Infrastructure;

/// <summary>
/// PostgreSQL refusing the first writes to a table as it does while it restarts (57P03, "starting up"), made by a trigger
/// in the test's own database. A sequence counts the writes tried, because a refused write rolls back.
/// </summary>
public sealed class RefusedWrites
{
    private readonly Database _database;
    private readonly string _name;

    private RefusedWrites(Database database, string name) => (_database, _name) = (database, name);

    /// <summary>Refuses the first <paramref name="times"/> <paramref name="operation"/>s on <paramref name="table"/> whose new row meets <paramref name="when"/>.</summary>
    public static async Task<RefusedWrites> ArmAsync(Database database, string name, string operation, string table, int times, string when = "true")
    {
        var sql = $$"""
            CREATE SEQUENCE {{name}};
            CREATE FUNCTION {{name}}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF {{when}} AND nextval('{{name}}') <= {{times}} THEN
                    RAISE EXCEPTION 'the database system is starting up' USING ERRCODE = '57P03';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER {{name}} BEFORE {{operation}} ON {{table}} FOR EACH ROW EXECUTE FUNCTION {{name}}();
            """;
        await using var db = database.Open();
        await db.Database.ExecuteSqlRawAsync(sql);
        return new RefusedWrites(database, name);
    }

    /// <summary>How many of the writes it watches were tried, refused or not.</summary>
    public async Task<long> TriedAsync()
    {
        var sql = $"SELECT last_value AS \"Value\" FROM {_name}";
        await using var db = _database.Open();
        return await db.Database.SqlQueryRaw<long>(sql).SingleAsync();
    }
}
