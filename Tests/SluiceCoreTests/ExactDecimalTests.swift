import SluiceCore
import Testing

@Suite("ExactDecimal")
struct ExactDecimalTests {
    @Test(
        "parses and prints the canonical text",
        arguments: [
            ("0", "0"), ("-0", "0"), ("+0", "0"), ("-0.00", "0.00"), ("000", "0"), ("007.10", "7.10"),
            ("1", "1"), ("+1", "1"), ("-1", "-1"), (".5", "0.5"), ("-.5", "-0.5"), ("5.", "5"),
            ("1e5", "100000"), ("1E5", "100000"), ("1e+5", "100000"), ("1e-3", "0.001"), ("1.5e-3", "0.0015"),
            ("-1.5E2", "-150"), ("1.25e1", "12.5"), ("12.50e0", "12.50"), ("0.005", "0.005"), ("-0.005", "-0.005"),
            ("-123.4500", "-123.4500"), ("12345678901234567890.0123456789", "12345678901234567890.0123456789"),
            ("123456789012345678901234567890123456789", "123456789012345678901234567890123456789"),
            ("NaN", "NaN"), ("nan", "NaN"), ("Infinity", "Infinity"), ("+Infinity", "Infinity"), ("inf", "Infinity"),
            ("-Infinity", "-Infinity"), ("-inf", "-Infinity"),
        ])
    func parses(_ text: String, _ canonical: String) throws {
        let d = try #require(ExactDecimal(text))
        #expect(d.description == canonical)
        // The canonical text parses back to the same value.
        #expect(ExactDecimal(canonical) == d)
    }

    @Test(
        "rejects what is not a number",
        arguments: [
            "", "abc", "1.2.3", "-", "+", ".", "-.", "e5", "1e", "1e+", "1e-", "1 ", " 1", "1,5", "--1", "+-1", "0x10",
            "1e5.5", "1e5e5", "NaNx", "Infinityy", "1_000", "١٢", "1e99999999999999999999", "½",
            "1e9223372036854775807", "1e-9223372036854775808", "1e-9223372036854775807", "1e2147483648",
        ])
    func rejects(_ text: String) {
        #expect(ExactDecimal(text) == nil)
    }

    @Test func fieldsOfAParsedDecimal() throws {
        let d = try #require(ExactDecimal("-123.4500"))
        #expect(d.isNegative)
        #expect(d.unscaledDigits == "1234500")
        #expect(d.scale == 4)
        #expect(d.precision == 7)
        #expect(d.special == nil)

        let small = try #require(ExactDecimal("0.005"))
        #expect(small.unscaledDigits == "5")
        #expect(small.scale == 3)
        #expect(!small.isNegative)

        let zero = try #require(ExactDecimal("-0.000"))
        #expect(!zero.isNegative)
        #expect(zero.unscaledDigits == "0")
        #expect(zero.scale == 3)
    }

    @Test func hundredDigitDecimal() throws {
        let text = "-" + Fixtures.hundredDigits + "." + Fixtures.hundredDigits
        let d = try #require(ExactDecimal(text))
        #expect(d.description == text)
        #expect(d.scale == 100)
        #expect(d.precision == 200)
    }

    @Test func specials() {
        #expect(ExactDecimal(special: .nan).description == "NaN")
        #expect(ExactDecimal(special: .infinity).description == "Infinity")
        #expect(ExactDecimal(special: .negativeInfinity).description == "-Infinity")
        #expect(ExactDecimal(special: .negativeInfinity).isNegative)
        #expect(ExactDecimal("NaN")?.special == .nan)
        #expect(ExactDecimal("NaN") != ExactDecimal("0"))
        #expect(ExactDecimal("Infinity") != ExactDecimal("-Infinity"))
    }

    @Test func memberwiseInitialiser() {
        #expect(ExactDecimal(negative: false, unscaledDigits: "5", scale: 3)?.description == "0.005")
        #expect(ExactDecimal(negative: true, unscaledDigits: "0005", scale: 1)?.description == "-0.5")
        #expect(ExactDecimal(negative: true, unscaledDigits: "0", scale: 2)?.description == "0.00")
        #expect(ExactDecimal(negative: false, unscaledDigits: "", scale: 0) == nil)
        #expect(ExactDecimal(negative: false, unscaledDigits: "1a", scale: 0) == nil)
        #expect(ExactDecimal(negative: false, unscaledDigits: "-1", scale: 0) == nil)
        #expect(ExactDecimal(negative: false, unscaledDigits: "1", scale: -1) == nil)
        #expect(ExactDecimal(negative: false, unscaledDigits: "1", scale: Int.max) == nil)
    }

    @Test func equalityKeepsTheScale() {
        // Representational equality: 1.5 and 1.50 are different values of the log (the scale is data).
        #expect(ExactDecimal("1.5") != ExactDecimal("1.50"))
        #expect(ExactDecimal("1.50") == ExactDecimal("150e-2"))
        #expect(ExactDecimal("-0") == ExactDecimal("0"))
    }
}
