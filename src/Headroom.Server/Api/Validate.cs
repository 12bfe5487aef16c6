using System.Net.Mail;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Headroom.Server.Api;

/// <summary>Input checks shared by endpoints; each returns the 400 to send, or null when the value is fine.</summary>
internal static partial class Validate
{
    [GeneratedRegex("^[a-z][a-z0-9-]{1,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex SlugPattern();

    public static IResult? Slug(string? value, string param)
    {
        if (string.IsNullOrEmpty(value))
            return Errors.BadRequest($"{param} is required.", param);
        return SlugPattern().IsMatch(value)
            ? null
            : Errors.BadRequest($"{param} must be 2–63 characters of lowercase letters, digits and '-', starting with a letter.", param);
    }

    public static IResult? Text(string? value, string param, int max, bool required = false)
    {
        if (value is null)
            return required ? Errors.BadRequest($"{param} is required.", param) : null;
        if (required && string.IsNullOrWhiteSpace(value))
            return Errors.BadRequest($"{param} must not be empty.", param);
        if (value.Length > max)
            return Errors.BadRequest($"{param} must be at most {max} characters.", param);
        return value.Any(char.IsControl) ? Errors.BadRequest($"{param} must not contain control characters.", param) : null;
    }

    /// <summary>Normalizes an email to lower case; returns null and sets error when it is not an address.</summary>
    public static string? Email(string? value, string param, out IResult? error)
    {
        error = null;
        var text = value?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(text) || text.Length > 254 || !MailAddress.TryCreate(text, out var address) || address.Address != text)
        {
            error = Errors.BadRequest($"{param} must be an email address.", param);
            return null;
        }
        return text;
    }
}
