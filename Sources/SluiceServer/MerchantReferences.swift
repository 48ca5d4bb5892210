import SluiceAuth
import SluicePolicy
import SluiceValidation

/// Merchant ids one guard's policy names that another guard's policy must know: the only
/// check that needs two guard modules' sections, so it lives here, where both are known.
enum MerchantReferences {
    /// `file:line:column: …` for each per-merchant amount cap naming an id that no auth scheme
    /// verifies: a typo there (`19000000001`) left the merchant's cap silently unapplied.
    static func problems(in policy: PolicySnapshot) -> [String] {
        guard let validations = policy.guardPolicy(ValidationModule.moduleName, as: ValidationsPolicy.self) else { return [] }
        let known = policy.guardPolicy(AuthModule.moduleName, as: AuthPolicy.self)?.knownMerchants ?? []
        return validations.merchantsNamed.filter { !known.contains($0.merchant) }.map { named in
            "\(named.position): max_per_merchant names merchant '\(named.merchant)', which no auth scheme verifies "
                + "(its cap would never apply; merchants are those of the auth section)"
        }
    }
}
