using System.Reflection;
using Headroom.Core.Metering;
using Headroom.Core.Pricing;

namespace Headroom.Core.Tests.Pricing;

/// <summary>
/// Money never passes through floating point: no public member of Pricing or Metering takes or returns a float,
/// double or Half, and members named like money are decimal and like quantities are integers.
/// </summary>
public sealed class MoneyTypeTests
{
    private static readonly string[] Namespaces = [typeof(PriceSheet).Namespace!, typeof(UsageEvent).Namespace!];

    private static readonly string[] MoneyWords = ["Rate", "Price", "Amount", "Cost", "Total", "Subtotal", "Credit", "Limit", "Spent", "Reserved", "Charged", "Overrun", "Rounding", "PerGpuHour", "PerMillion", "Threshold", "Available", "Discount"];

    private static readonly string[] QuantityWords = ["Quantity", "MilliGpus", "Tokens"];

    /// <summary>Unit conversions: how many quantity units one price unit holds. Integers, not money.</summary>
    private static readonly string[] UnitCounts = ["MilliGpuSecondsPerGpuHour", "TokensPerMillion", "UnitsPerPrice"];

    [Fact]
    public void No_public_member_has_a_floating_point_type()
    {
        var offenders = PublicSignatures().Where(s => IsFloating(s.Type)).Select(s => s.Where).ToList();

        Assert.Empty(offenders);
    }

    [Fact]
    public void Money_is_decimal_and_quantities_are_integers()
    {
        var offenders = new List<string>();
        foreach (var (where, name, type) in PublicSignatures())
        {
            var bare = Nullable.GetUnderlyingType(type) ?? type;
            if ((!bare.IsPrimitive && bare != typeof(decimal)) || UnitCounts.Contains(name))
            {
                continue;
            }
            if (MoneyWords.Any(w => name.EndsWith(w, StringComparison.Ordinal)) && bare != typeof(decimal) && bare != typeof(bool))
            {
                offenders.Add($"{where} is {bare.Name}, money is decimal");
            }
            if (QuantityWords.Any(w => name.EndsWith(w, StringComparison.Ordinal)) && bare != typeof(long))
            {
                offenders.Add($"{where} is {bare.Name}, quantities are long");
            }
        }

        Assert.Empty(offenders);
    }

    [Fact]
    public void The_scan_sees_the_money_members()
    {
        var names = PublicSignatures().Select(s => s.Where).ToList();

        Assert.Contains("InvoiceLine.Amount", names);
        Assert.Contains("Budget.TryReserve(maxCost)", names);
        Assert.Contains("UsageEvent.Quantity", names);
    }

    private static bool IsFloating(Type type)
    {
        if (type.HasElementType)
        {
            return IsFloating(type.GetElementType()!);
        }
        if (type.IsGenericType && type.GetGenericArguments().Any(IsFloating))
        {
            return true;
        }
        return type == typeof(float) || type == typeof(double) || type == typeof(Half);
    }

    private static IEnumerable<(string Where, string Name, Type Type)> PublicSignatures()
    {
        var types = typeof(PriceSheet).Assembly.GetExportedTypes().Where(t => Namespaces.Contains(t.Namespace));
        const BindingFlags Flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in types)
        {
            foreach (var property in type.GetProperties(Flags))
            {
                yield return ($"{type.Name}.{property.Name}", property.Name, property.PropertyType);
            }
            foreach (var field in type.GetFields(Flags).Where(f => !type.IsEnum))
            {
                yield return ($"{type.Name}.{field.Name}", field.Name, field.FieldType);
            }
            foreach (var method in type.GetMethods(Flags).Cast<MethodBase>().Concat(type.GetConstructors()))
            {
                if (method is MethodInfo info)
                {
                    yield return ($"{type.Name}.{method.Name}()", method.Name, info.ReturnType);
                }
                foreach (var parameter in method.GetParameters())
                {
                    var name = parameter.Name ?? "";
                    yield return ($"{type.Name}.{method.Name}({name})", char.ToUpperInvariant(name[0]) + name[1..], parameter.ParameterType);
                }
            }
        }
    }
}
