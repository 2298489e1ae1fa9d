using System.Globalization;
using System.Text;

namespace Anvil.Broker.Core.Query;

/// <summary>A value in a query: a number, a string or a boolean (docs/broker.md §4.9). Values of different kinds never compare.</summary>
internal readonly record struct QueryValue(QueryValueKind Kind, decimal Number, string? Text, bool Bool)
{
    public static QueryValue Of(decimal number) => new(QueryValueKind.Number, number, null, false);

    public static QueryValue Of(string text) => new(QueryValueKind.Text, 0, text, false);

    public static QueryValue Of(bool value) => new(QueryValueKind.Bool, 0, null, value);

    /// <summary>Orders two values of one kind; null when they cannot be compared (other kinds, or ordering booleans).</summary>
    public int? CompareTo(in QueryValue other, bool ordering)
    {
        if (Kind != other.Kind || Kind == QueryValueKind.Missing)
        {
            return null;
        }

        return Kind switch
        {
            QueryValueKind.Number => Number.CompareTo(other.Number),
            QueryValueKind.Text => Utf8Compare(Text!, other.Text!),
            _ => ordering ? null : Bool.CompareTo(other.Bool),
        };
    }

    /// <summary>Strings compare by their UTF-8 bytes (§4.9).</summary>
    private static int Utf8Compare(string a, string b)
    {
        var x = Encoding.UTF8.GetBytes(a);
        var y = Encoding.UTF8.GetBytes(b);
        return x.AsSpan().SequenceCompareTo(y);
    }
}

internal enum QueryValueKind
{
    Missing,
    Number,
    Text,
    Bool,
}

internal enum CompareOp
{
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// <summary>A node of the parsed expression tree; the broker evaluates it itself (text is never handed to another engine).</summary>
internal abstract record QueryNode;

internal sealed record AndNode(QueryNode Left, QueryNode Right) : QueryNode;

internal sealed record OrNode(QueryNode Left, QueryNode Right) : QueryNode;

internal sealed record CompareNode(string[] Field, CompareOp Op, QueryValue Value) : QueryNode;

internal sealed record InNode(string[] Field, bool Negated, QueryValue[] Values) : QueryNode;

internal sealed record BetweenNode(string[] Field, bool Negated, QueryValue Low, QueryValue High) : QueryNode;

/// <summary>A parsed query: the condition and an optional ORDER BY.</summary>
internal sealed record ParsedQuery(QueryNode Condition, string[]? OrderBy, bool Descending);

/// <summary>
/// Recursive-descent parser of the §4.9 subset: comparisons, [NOT] IN, [NOT] BETWEEN, AND (binds tighter), OR,
/// parentheses and one trailing ORDER BY. Every error is INVALID_ARGUMENT BAD_QUERY with the character position.
/// </summary>
internal sealed class QueryParser
{
    public const int MaxLength = 4096;
    public const int MaxDepth = 32;
    public const int MaxInItems = 1000;
    public const int MaxMetaLevels = 8;

    private readonly List<Token> tokens;
    private int next;
    private int depth;

    private QueryParser(List<Token> tokens) => this.tokens = tokens;

    public static ParsedQuery Parse(string text)
    {
        if (text.Trim().Length == 0)
        {
            throw Bad(0, "The query is empty; write a condition such as meta.scan = 1.");
        }

        if (Encoding.UTF8.GetByteCount(text) > MaxLength)
        {
            throw Bad(MaxLength, $"The query exceeds {MaxLength} bytes; simplify it.");
        }

        var parser = new QueryParser(Tokenize(text));
        var condition = parser.Or();
        string[]? orderBy = null;
        var descending = false;
        if (parser.AcceptKeyword("ORDER"))
        {
            parser.ExpectKeyword("BY");
            orderBy = parser.Field();
            if (parser.AcceptKeyword("DESC"))
            {
                descending = true;
            }
            else
            {
                parser.AcceptKeyword("ASC");
            }
        }

        var end = parser.Peek;
        if (end.Kind != TokenKind.End)
        {
            throw Bad(end.Position, $"Unexpected '{end.Text}' at position {end.Position}; only one trailing ORDER BY may follow the condition.");
        }

        return new ParsedQuery(condition, orderBy, descending);
    }

    private Token Peek => tokens[next];

    private QueryNode Or()
    {
        var left = And();
        while (AcceptKeyword("OR"))
        {
            left = new OrNode(left, And());
        }

        return left;
    }

    private QueryNode And()
    {
        var left = Primary();
        while (AcceptKeyword("AND"))
        {
            left = new AndNode(left, Primary());
        }

        return left;
    }

    private QueryNode Primary()
    {
        var token = Peek;
        if (token.Kind == TokenKind.Symbol && token.Text == "(")
        {
            if (++depth > MaxDepth)
            {
                throw Bad(token.Position, $"Parentheses nest deeper than {MaxDepth} levels at position {token.Position}.");
            }

            next++;
            var inner = Or();
            Expect(")");
            depth--;
            return inner;
        }

        var field = Field();
        var negated = AcceptKeyword("NOT");
        if (AcceptKeyword("IN"))
        {
            Expect("(");
            var values = new List<QueryValue> { Literal() };
            while (Accept(","))
            {
                values.Add(Literal());
                if (values.Count > MaxInItems)
                {
                    throw Bad(Peek.Position, $"IN lists hold at most {MaxInItems} items.");
                }
            }

            Expect(")");
            return new InNode(field, negated, [.. values]);
        }

        if (AcceptKeyword("BETWEEN"))
        {
            var low = Literal();
            ExpectKeyword("AND");
            return new BetweenNode(field, negated, low, Literal());
        }

        if (negated)
        {
            throw Bad(Peek.Position, $"NOT must be followed by IN or BETWEEN (position {Peek.Position}).");
        }

        var op = Peek;
        if (op.Kind == TokenKind.Word && op.Text.ToUpperInvariant() is "LIKE" or "REGEXP" or "RLIKE" or "MATCH")
        {
            throw Bad(op.Position, $"{op.Text.ToUpperInvariant()} is not supported (unbounded cost); use =, IN or BETWEEN.");
        }

        if (op.Kind != TokenKind.Symbol)
        {
            throw Bad(op.Position, $"Expected a comparison operator (= != < <= > >=), IN or BETWEEN at position {op.Position}, found '{op.Text}'.");
        }

        var compare = op.Text switch
        {
            "=" => CompareOp.Eq,
            "!=" or "<>" => CompareOp.Ne,
            "<" => CompareOp.Lt,
            "<=" => CompareOp.Le,
            ">" => CompareOp.Gt,
            ">=" => CompareOp.Ge,
            _ => throw Bad(op.Position, $"Expected a comparison operator (= != < <= > >=) at position {op.Position}, found '{op.Text}'."),
        };
        next++;
        return new CompareNode(field, compare, Literal());
    }

    private string[] Field()
    {
        var token = Peek;
        if (token.Kind != TokenKind.Word || IsKeyword(token.Text))
        {
            throw Bad(token.Position, $"Expected a field (_id, id, name, timestamp, size or meta.<key>) at position {token.Position}, found '{token.Text}'.");
        }

        if (token.Kind == TokenKind.Word && (token.Text.Contains('(', StringComparison.Ordinal) || Peek2IsOpenParen()))
        {
            throw Bad(token.Position, $"Functions are not supported (position {token.Position}).");
        }

        next++;
        var parts = token.Text.Split('.');
        if (parts.Any(p => p.Length == 0))
        {
            throw Bad(token.Position, $"Field '{token.Text}' has an empty segment.");
        }

        switch (parts[0])
        {
            case "_id" or "id" or "name" or "timestamp" or "size" when parts.Length == 1:
                return parts;
            case "meta" when parts.Length >= 2 && parts.Length - 1 <= MaxMetaLevels:
                return parts;
            case "meta" when parts.Length >= 2:
                throw Bad(token.Position, $"Field '{token.Text}' goes deeper than {MaxMetaLevels} meta levels.");
            default:
                throw Bad(token.Position, $"Unknown field '{token.Text}' at position {token.Position}; use _id, id, name, timestamp, size or meta.<key>.");
        }
    }

    private bool Peek2IsOpenParen() =>
        next + 1 < tokens.Count && tokens[next + 1] is { Kind: TokenKind.Symbol, Text: "(" };

    private QueryValue Literal()
    {
        var token = Peek;
        next++;
        switch (token.Kind)
        {
            case TokenKind.Number:
                return QueryValue.Of(decimal.Parse(token.Text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture));
            case TokenKind.String:
                return QueryValue.Of(token.Text);
            case TokenKind.Word when token.Text.Equals("true", StringComparison.OrdinalIgnoreCase):
                return QueryValue.Of(true);
            case TokenKind.Word when token.Text.Equals("false", StringComparison.OrdinalIgnoreCase):
                return QueryValue.Of(false);
            default:
                throw Bad(token.Position, $"Expected a literal (number, 'text', true or false) at position {token.Position}, found '{token.Text}'.");
        }
    }

    private bool Accept(string symbol)
    {
        if (Peek.Kind == TokenKind.Symbol && Peek.Text == symbol)
        {
            next++;
            return true;
        }

        return false;
    }

    private void Expect(string symbol)
    {
        if (!Accept(symbol))
        {
            throw Bad(Peek.Position, $"Expected '{symbol}' at position {Peek.Position}, found '{Peek.Text}'.");
        }
    }

    private bool AcceptKeyword(string keyword)
    {
        if (Peek.Kind == TokenKind.Word && Peek.Text.Equals(keyword, StringComparison.OrdinalIgnoreCase))
        {
            next++;
            return true;
        }

        return false;
    }

    private void ExpectKeyword(string keyword)
    {
        if (!AcceptKeyword(keyword))
        {
            throw Bad(Peek.Position, $"Expected {keyword} at position {Peek.Position}, found '{Peek.Text}'.");
        }
    }

    private static bool IsKeyword(string word) =>
        word.ToUpperInvariant() is "AND" or "OR" or "NOT" or "IN" or "BETWEEN" or "ORDER" or "BY" or "ASC" or "DESC" or "TRUE" or "FALSE";

    private static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            var start = i;
            if (c == '\'')
            {
                var value = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length)
                    {
                        throw Bad(start, $"The string starting at position {start} is not closed; end it with ' (write '' for a quote).");
                    }

                    if (text[i] == '\'')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '\'')
                        {
                            value.Append('\'');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    value.Append(text[i++]);
                }

                tokens.Add(new Token(TokenKind.String, value.ToString(), start));
            }
            else if (char.IsAsciiDigit(c) || (c is '-' or '+' && i + 1 < text.Length && (char.IsAsciiDigit(text[i + 1]) || text[i + 1] == '.')) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                i++;
                while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
                {
                    i++;
                }

                var number = text[start..i];
                if (!decimal.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out _))
                {
                    throw Bad(start, $"'{number}' at position {start} is not a number.");
                }

                tokens.Add(new Token(TokenKind.Number, number, start));
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or '.' or '-'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Word, text[start..i], start));
            }
            else
            {
                var two = i + 1 < text.Length ? text.Substring(i, 2) : "";
                if (two is "<=" or ">=" or "!=" or "<>")
                {
                    tokens.Add(new Token(TokenKind.Symbol, two, start));
                    i += 2;
                }
                else if (c is '=' or '<' or '>' or '(' or ')' or ',')
                {
                    tokens.Add(new Token(TokenKind.Symbol, c.ToString(), start));
                    i++;
                }
                else
                {
                    throw Bad(start, $"Unexpected character '{c}' at position {start}.");
                }
            }
        }

        tokens.Add(new Token(TokenKind.End, "end of query", text.Length));
        return tokens;
    }

    private static BrokerException Bad(int position, string message) =>
        BrokerException.Invalid("expression", message, ErrorReasons.BadQuery,
            new Dictionary<string, string> { ["position"] = position.ToString(CultureInfo.InvariantCulture) });

    private enum TokenKind
    {
        Word,
        Number,
        String,
        Symbol,
        End,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Position);
}
