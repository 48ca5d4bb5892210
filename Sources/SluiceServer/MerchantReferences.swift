import SluiceAuth
import SluicePolicy
import SluiceRateLimit
import SluiceValidation

/// What one guard's policy says about merchants that only another guard's policy can confirm:
/// the checks that need two guard modules' sections, so they live here, where both are known.
enum MerchantReferences {
    /// `file:line:column: …` for each problem, in file order.
    static func problems(in policy: PolicySnapshot) -> [String] {
        let auth = policy.guardPolicy(AuthModule.moduleName, as: AuthPolicy.self)
        let validations = policy.guardPolicy(ValidationModule.moduleName, as: ValidationsPolicy.self)
        let limits = policy.guardPolicy(RateLimitModule.moduleName, as: RateLimitPolicy.self)
        return unknownCapMerchants(validations, known: auth?.knownMerchants ?? [])
            + unverifiedMerchantUses((validations?.merchantDependences ?? []) + (limits?.merchantDependences ?? []), auth: auth)
    }

    /// A per-merchant amount cap naming an id that no auth scheme verifies: a typo there
    /// (`19000000001`) left the merchant's cap silently unapplied.
    private static func unknownCapMerchants(_ validations: ValidationsPolicy?, known: Set<String>) -> [String] {
        (validations?.merchantsNamed ?? []).filter { !known.contains($0.merchant) }.map { named in
            "\(named.position): max_per_merchant names merchant '\(named.merchant)', which no auth scheme verifies "
                + "(its cap would never apply; merchants are those of the auth section)"
        }
    }

    /// A merchant-keyed limit or merchant check on a route whose auth verifies no merchant.
    private static func unverifiedMerchantUses(_ uses: [MerchantDependence], auth: AuthPolicy?) -> [String] {
        uses.filter { !(auth?.identifiesMerchant(onRoute: $0.route) ?? false) }.map { use in
            "\(use.position): route '\(use.route)' verifies no merchant (its auth schemes do not name one), but its \(use.what)"
        }
    }
}
