//! Partition type GUIDs, the fixed DATA partition GUIDs, and deterministic GUID derivation.
//!
//! Values are Bottlerocket's (DESIGN §2.5). GUIDs are kept as [`Uuid`] in their textual
//! (big-endian) form; [`to_gpt_bytes`] and [`from_gpt_bytes`] convert to and from the mixed-endian
//! layout GPT stores on disk.

use sha2::{Digest, Sha256};
use uuid::{Builder, Uuid};

/// Type GUID of a bank's BOOT partition (`BOTTLEROCKET-BOOT-{A,B}`); defined in `gptprio`,
/// whose chooser considers partitions of this type only.
pub use gptprio::BOOT_TYPE;
/// Type GUID of a bank's ROOT partition (`BOTTLEROCKET-ROOT-{A,B}`).
pub const ROOT_TYPE: Uuid = Uuid::from_u128(0x5526016a_1a97_4ea4_b39a_b7c8c6ca4502);
/// Type GUID of a bank's dm-verity HASH partition (`BOTTLEROCKET-HASH-{A,B}`).
pub const HASH_TYPE: Uuid = Uuid::from_u128(0x598f10af_c955_4456_6a99_7720068a6cea);
/// Type GUID of a bank's RESERVED partition (`BOTTLEROCKET-RESERVED-{A,B}`).
pub const RESERVED_TYPE: Uuid = Uuid::from_u128(0x0c5d99a5_d331_4147_baef_08e2b855bdc9);
/// Type GUID of the PRIVATE partition (`BOTTLEROCKET-PRIVATE`).
pub const PRIVATE_TYPE: Uuid = Uuid::from_u128(0x440408bb_eb0b_4328_a6e5_a29038fad706);
/// Type GUID of the DATA partitions (DATA-A, DATA-B).
pub const DATA_TYPE: Uuid = Uuid::from_u128(0x626f7474_6c65_6474_6861_726d61726b73);
/// Type GUID of the BIOS boot partition (`BIOS-BOOT`, sgdisk code `ef02`).
pub const BIOS_BOOT_TYPE: Uuid = Uuid::from_u128(0x21686148_6449_6e6f_744e_656564454649);
/// Type GUID of the EFI system partition (`EFI-SYSTEM`, bank A).
pub const EFI_SYSTEM_TYPE: Uuid = Uuid::from_u128(0xc12a7328_f81f_11d2_ba4b_00a0c93ec93b);
/// Type GUID of the placeholder EFI partition of bank B (`EFI-BACKUP`).
pub const EFI_BACKUP_TYPE: Uuid = Uuid::from_u128(0xb39ce39c_0a00_b4ab_2d11_f18f8237a21c);

/// Partition GUID of the DATA partition the host prefers: DATA-A of a unified image, DATA-B on the
/// data disk of a split image.
pub const DATA_PREFERRED_PARTITION_GUID: Uuid =
    Uuid::from_u128(0x5b94e8df_28b8_485c_9d19_362263b5944c);
/// Partition GUID of the fallback DATA partition: the 1 MiB DATA-A placeholder on the OS disk of a
/// split image, used when no data disk is attached.
pub const DATA_FALLBACK_PARTITION_GUID: Uuid =
    Uuid::from_u128(0x69040874_417d_4e26_a764_7885f22007ea);

/// Domain separator hashed before the seed, so these GUIDs never collide with other values derived
/// from the same seed. Changing it changes every derived GUID.
const DERIVATION_DOMAIN: &[u8] = b"twoliter-partitions/guid/v1\0";

/// Derives a GUID from `seed` and `key`, deterministically.
///
/// The GUID is the first 16 bytes of `SHA-256(DERIVATION_DOMAIN || seed || key)` with the RFC 9562
/// version set to 8 (custom) and the RFC 4122 variant, so it is a valid, well-formed UUID that
/// never looks random-generated (v4) or time-based. Keys used by the planner are
/// `"disk/os"`, `"disk/data"` and `"partition/<ID>"` with IDs like `BOOT-A` (see
/// [`crate::PartitionId::key`]).
pub fn derive_guid(seed: &[u8; 32], key: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(DERIVATION_DOMAIN)
        .chain_update(seed)
        .chain_update(key.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Builder::from_custom_bytes(bytes).into_uuid()
}

/// The 16 bytes GPT stores for `guid` (first three fields little-endian).
pub fn to_gpt_bytes(guid: Uuid) -> [u8; 16] {
    guid.to_bytes_le()
}

/// The GUID for 16 bytes as GPT stores them (first three fields little-endian).
pub fn from_gpt_bytes(bytes: [u8; 16]) -> Uuid {
    Uuid::from_bytes_le(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_text() {
        let cases = [
            (BOOT_TYPE, "6b636168-7420-6568-2070-6c616e657421"),
            (ROOT_TYPE, "5526016a-1a97-4ea4-b39a-b7c8c6ca4502"),
            (HASH_TYPE, "598f10af-c955-4456-6a99-7720068a6cea"),
            (RESERVED_TYPE, "0c5d99a5-d331-4147-baef-08e2b855bdc9"),
            (PRIVATE_TYPE, "440408bb-eb0b-4328-a6e5-a29038fad706"),
            (DATA_TYPE, "626f7474-6c65-6474-6861-726d61726b73"),
            (BIOS_BOOT_TYPE, "21686148-6449-6e6f-744e-656564454649"),
            (EFI_SYSTEM_TYPE, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"),
            (EFI_BACKUP_TYPE, "b39ce39c-0a00-b4ab-2d11-f18f8237a21c"),
            (
                DATA_PREFERRED_PARTITION_GUID,
                "5b94e8df-28b8-485c-9d19-362263b5944c",
            ),
            (
                DATA_FALLBACK_PARTITION_GUID,
                "69040874-417d-4e26-a764-7885f22007ea",
            ),
        ];
        for (guid, text) in cases {
            assert_eq!(guid.to_string(), text);
        }
    }

    #[test]
    fn gpt_byte_order() {
        // The EFI system partition type as it appears on disk.
        assert_eq!(
            to_gpt_bytes(EFI_SYSTEM_TYPE),
            [
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
        assert_eq!(from_gpt_bytes(to_gpt_bytes(BOOT_TYPE)), BOOT_TYPE);
    }

    #[test]
    fn derivation_is_deterministic_and_keyed() {
        let seed = [7u8; 32];
        let a = derive_guid(&seed, "partition/BOOT-A");
        assert_eq!(a, derive_guid(&seed, "partition/BOOT-A"));
        assert_ne!(a, derive_guid(&seed, "partition/BOOT-B"));
        assert_ne!(a, derive_guid(&[8u8; 32], "partition/BOOT-A"));
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
    }
}
